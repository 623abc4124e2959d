import { afterAll, beforeAll } from 'vitest';
import type { EngineProvisioner } from '../../functions/adapters/provisioners.js';
import type { CredentialProvisioner } from '../../functions/application/ports.js';
import type { Target } from '../../functions/domain/policy-schema.js';
import { type RunningPostgres, startEmbeddedPostgres } from '../../local/embedded-postgres.js';
import { hostPortOf, type LevelYaml, postgresPolicyYaml } from './policies.js';
import { services } from './services.js';
import { createTargetDatabase, type System, startSystem } from './system.js';

/** The people the end-to-end and fault suites act as (the policies there name them by email). */
export const ALICE = 'alice@example.com';
export const BOB = 'bob@example.com';
export const CAROL = 'carol@example.com';
export const DAVE = 'dave@example.com';
export const ERIN = 'erin@example.com';
export const MALLORY = 'mallory@example.com';

export interface AppSystemOptions {
  /** The levels of the one target, `app`. */
  levels: Record<string, LevelYaml>;
  /** The server the database is created on and the admin credentials; the shared test server unless given. */
  pgAdminUrl?: string;
  /** The target's database, created here; `app` unless given (a dedicated server has no other suites). */
  database?: string;
  /** Where the target is reached, when not at the admin URL's host and port (a dedicated server, a proxy). */
  connection?: { host: string; port: number | string };
  environment?: string;
  /** Another DynamoDB than the shared one (a suite that restarts its own). */
  dynamodbEndpoint?: string;
}

/**
 * The setup most system suites share: a fresh target database with createTargetDatabase's tables, and a system
 * whose policy has one password target `app` on it. Returns the system and a function that drops the database.
 */
export async function startAppSystem(
  options: AppSystemOptions,
): Promise<{ system: System; dropDatabase: () => Promise<void> }> {
  const pgAdminUrl = options.pgAdminUrl ?? services().pgAdminUrl;
  const database = options.database ?? 'app';
  const dropDatabase = await createTargetDatabase(pgAdminUrl, database);
  try {
    const system = await startSystem({
      dynamodbEndpoint: options.dynamodbEndpoint ?? services().dynamodbEndpoint,
      pgAdminUrl,
      policyYaml: postgresPolicyYaml({
        id: 'app',
        ...(options.environment === undefined ? {} : { environment: options.environment }),
        ...(options.connection ?? hostPortOf(pgAdminUrl)),
        database,
        levels: options.levels,
      }),
    });
    return { system, dropDatabase };
  } catch (error) {
    await dropDatabase().catch(() => undefined);
    throw error;
  }
}

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
      onceSession: (spec) => provisioner.onceSession(spec),
      ...override(provisioner),
    };
  };
}
