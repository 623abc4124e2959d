import { afterAll, beforeAll } from 'vitest';
import type { EngineProvisioner } from '../../functions/adapters/provisioners.js';
import type { CredentialProvisioner } from '../../functions/application/ports.js';
import type { Target } from '../../functions/domain/policy-schema.js';
import { type RunningPostgres, startEmbeddedPostgres } from '../../local/embedded-postgres.js';
import { type AppSystemOptions, type System, startAppSystem } from './system.js';

/** The people the end-to-end and fault suites act as (the policies there name them by email). */
export const ALICE = 'alice@example.com';
export const BOB = 'bob@example.com';
export const CAROL = 'carol@example.com';
export const DAVE = 'dave@example.com';
export const ERIN = 'erin@example.com';
export const MALLORY = 'mallory@example.com';

/**
 * The setup of an end-to-end or fault suite: before the file's tests, startAppSystem with `options` (asked for
 * then, so they may name what an earlier hook started); after them, the system stopped and its database dropped,
 * unless it is on a dedicated server (`pgAdminUrl`), which goes away with its server. Hooks the file registers
 * after this call run after the start and, vitest stacking after-hooks, before the stop. Returns the system, to
 * ask for from inside hooks and tests.
 */
export function useAppSystem(options: () => AppSystemOptions, timeoutMs?: number): () => System {
  let system: System | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const asked = options();
    const started = await startAppSystem(asked);
    system = started.system;
    if (asked.pgAdminUrl === undefined) dropDatabase = started.dropDatabase;
  }, timeoutMs);
  afterAll(async () => {
    await system?.stop();
    await dropDatabase?.();
  });
  return () => {
    if (!system) throw new Error('the app system is used before beforeAll started it');
    return system;
  };
}

/**
 * useAppSystem on a dedicated embedded PostgreSQL (not kept), for suites whose reconciler drops every unexplained
 * `jit_` role on the server: the server starts before the system and stops after it.
 */
export function useDedicatedAppSystem(
  levels: AppSystemOptions['levels'],
  timeoutMs = 120_000,
): { server: () => RunningPostgres; system: () => System } {
  let server: RunningPostgres | undefined;
  beforeAll(async () => {
    server = await startEmbeddedPostgres({ persistent: false });
  }, timeoutMs);
  // Registered before useAppSystem's, so it runs after the system stops (vitest runs after-hooks in reverse).
  afterAll(async () => {
    await server?.stop();
  });
  const running = (): RunningPostgres => {
    if (!server) throw new Error('the dedicated PostgreSQL is used before beforeAll started it');
    return server;
  };
  const system = useAppSystem(
    () => ({ pgAdminUrl: running().url, connection: { host: '127.0.0.1', port: running().port }, levels }),
    timeoutMs,
  );
  return { server: running, system };
}

/**
 * Puts `override`'s grant and revoke in place of the real ones of every provisioner `system` makes (a fault
 * suite's injected delay or crash); `override` gets the real provisioner, which still does everything else.
 */
export function overrideProvisioners(
  system: System,
  override: (real: EngineProvisioner) => Pick<CredentialProvisioner, 'grant' | 'revoke'>,
): void {
  const factory = system.deps.provisioners;
  const real = factory.for.bind(factory);
  factory.for = (target: Target): CredentialProvisioner => {
    const provisioner = real(target) as EngineProvisioner;
    return {
      credentials: (spec) => provisioner.credentials(spec),
      extend: (spec, at) => provisioner.extend(spec, at),
      listManagedUsers: () => provisioner.listManagedUsers(),
      check: () => provisioner.check(),
      ...override(provisioner),
    };
  };
}
