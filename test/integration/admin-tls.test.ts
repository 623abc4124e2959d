import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Target } from '../../functions/domain/policy-schema.js';
import { readTargetInput } from '../support/provisioner-fixtures.js';

/**
 * The admin connection's TLS against a server that speaks PostgreSQL's SSLRequest and then TLS with a
 * certificate from a private CA — what a relay on the path would present. It records whether the handshake
 * completed and whether the client went on to send its startup message (the admin user name, then the
 * password exchange): `verify-full` must stop before either; `require` does not, which is why it is not the
 * default for RDS targets.
 */

const dir = mkdtempSync(join(tmpdir(), 'jitdb-tls-'));
const pem = (name: string) => join(dir, name);

function openssl(...args: string[]) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

interface Seen {
  handshakes: number;
  startupBytes: number;
}
const seen: Seen = { handshakes: 0, startupBytes: 0 };
let server: net.Server;
let port = 0;

beforeAll(async () => {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=jitdb-test-ca',
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=localhost',
  );
  writeFileSync(pem('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'san.ext',
  );
  const key = readFileSync(pem('server.key'));
  const cert = readFileSync(pem('server.pem'));
  server = net.createServer((socket) => {
    socket.once('data', (first) => {
      // SSLRequest: length 8, code 80877103. Answer 'S' and start TLS as the server.
      if (first.length !== 8 || first.readUInt32BE(4) !== 80877103) return socket.destroy();
      socket.write('S');
      const secure = new tls.TLSSocket(socket, { isServer: true, key, cert });
      secure.on('secure', () => {
        seen.handshakes += 1;
      });
      secure.on('data', (data: Buffer) => {
        seen.startupBytes += data.length;
        secure.destroy();
      });
      secure.on('error', () => socket.destroy());
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

/**
 * Runs the probe in a fresh Node process (NODE_EXTRA_CA_CERTS is read at start-up); returns what it printed.
 * Asynchronously: the fake server runs in this process.
 */
async function probe(mode: string, extraCa?: string): Promise<string> {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (extraCa) env.NODE_EXTRA_CA_CERTS = extraCa;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, '../support/tls-probe.ts'),
      mode,
      'localhost',
      String(port),
    ],
    { env, encoding: 'utf8', timeout: 30_000 },
  );
  return stdout.trim().split('\n').at(-1) ?? '';
}

describe('TLS of the admin connection', () => {
  it('verify-full refuses a certificate no trusted CA signed, before sending the admin user name', async () => {
    const before = { ...seen };
    expect(await probe('verify-full')).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(seen.handshakes).toBe(before.handshakes);
    expect(seen.startupBytes).toBe(before.startupBytes);
  });

  it('verify-full trusts a CA named by NODE_EXTRA_CA_CERTS, as the CDK sets it to the RDS CA bundle on Lambda', async () => {
    const before = { ...seen };
    // The fake server ends the connection after the startup message, so "connected" is never printed.
    const out = await probe('verify-full', pem('ca.pem'));
    expect(out).not.toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(seen.handshakes).toBe(before.handshakes + 1);
    expect(seen.startupBytes).toBeGreaterThan(before.startupBytes);
  });

  it('require completes the handshake with anyone on the path: why it is not the default for RDS targets', async () => {
    const before = { ...seen };
    await probe('require');
    expect(seen.handshakes).toBe(before.handshakes + 1);
    expect(seen.startupBytes).toBeGreaterThan(before.startupBytes);
  });
});

describe('the TLS mode a target gets', () => {
  const base = readTargetInput('postgres', 'orders', { database: 'orders', schema: 'public' });

  it('verifies RDS targets by default, and encrypts host/port targets', () => {
    expect(Target.parse({ ...base, connection: { rdsInstanceId: 'orders-prod' } }).tls).toBe('verify-full');
    expect(Target.parse({ ...base, connection: { rdsClusterId: 'orders' } }).tls).toBe('verify-full');
    expect(Target.parse({ ...base, connection: { host: 'db.internal', port: 5432 } }).tls).toBe('require');
  });

  it.each(['127.0.0.1', '127.0.0.53', 'localhost', '::1'])(
    'allows tls: disable on the loopback host %s',
    (host) => {
      expect(Target.safeParse({ ...base, connection: { host, port: 5432 }, tls: 'disable' }).success).toBe(
        true,
      );
    },
  );

  it.each(['db.internal', '10.0.0.5', 'postgres', '127.0.0.1.evil.example'])(
    'refuses tls: disable on %s',
    (host) => {
      const result = Target.safeParse({ ...base, connection: { host, port: 5432 }, tls: 'disable' });
      expect(result.success).toBe(false);
      expect(JSON.stringify(result.error?.issues)).toContain('disable is only for loopback hosts');
    },
  );

  it('refuses tls: disable on an RDS target', () => {
    expect(Target.safeParse({ ...base, connection: { rdsInstanceId: 'x' }, tls: 'disable' }).success).toBe(
      false,
    );
  });
});
