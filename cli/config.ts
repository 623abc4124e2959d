import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const DEFAULT_ENDPOINT = 'http://localhost:3000';

/** What every command needs to reach the API, resolved from flags, environment and the config file. */
export interface CliConfig {
  endpoint: string;
  /** Sent as `x-jitdb-user`; only the local runtime honours it. */
  user: string | undefined;
  json: boolean;
  /** Region for SigV4 against AWS; taken from the endpoint host when absent. */
  region: string | undefined;
  /**
   * Assembly mode's local sign-in (JITDB_SSO_URL): when set, requests are signed with SigV4 using credentials
   * it issues for `user`, over plain http too, and no identity header is sent.
   */
  ssoUrl: string | undefined;
}

interface ConfigFile {
  endpoint?: string;
  user?: string;
  region?: string;
  ssoUrl?: string;
}

/** ~/.config/jitdb/config.json (or $XDG_CONFIG_HOME/jitdb/config.json); missing or unreadable means empty. */
export function readConfigFile(env: NodeJS.ProcessEnv = process.env): ConfigFile {
  const base = env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config');
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(base, 'jitdb', 'config.json'), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) return {};
    const record = parsed as Record<string, unknown>;
    const out: ConfigFile = {};
    if (typeof record.endpoint === 'string') out.endpoint = record.endpoint;
    if (typeof record.user === 'string') out.user = record.user;
    if (typeof record.region === 'string') out.region = record.region;
    if (typeof record.ssoUrl === 'string') out.ssoUrl = record.ssoUrl;
    return out;
  } catch {
    return {};
  }
}

/** Flags beat environment variables, which beat the config file, which beats the defaults. */
export function resolveConfig(
  flags: { endpoint?: string | undefined; user?: string | undefined; json?: boolean | undefined },
  env: NodeJS.ProcessEnv = process.env,
): CliConfig {
  const file = readConfigFile(env);
  const endpoint = (flags.endpoint ?? env.JITDB_ENDPOINT ?? file.endpoint ?? DEFAULT_ENDPOINT).replace(
    /\/+$/,
    '',
  );
  return {
    endpoint,
    user: flags.user ?? env.JITDB_USER ?? file.user,
    json: flags.json === true,
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? file.region ?? regionFromEndpoint(endpoint),
    ssoUrl: env.JITDB_SSO_URL ?? file.ssoUrl,
  };
}

/** `https://abc.execute-api.eu-west-1.amazonaws.com/prod` → `eu-west-1`. */
export function regionFromEndpoint(endpoint: string): string | undefined {
  try {
    const host = new URL(endpoint).hostname;
    return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host)?.[1];
  } catch {
    return undefined;
  }
}

/** Plain http is only for the local runtime; https endpoints are API Gateway and get SigV4. */
export function isAwsEndpoint(endpoint: string): boolean {
  return endpoint.startsWith('https://');
}
