/**
 * Policy YAML for the suites that run a system or a runtime against real PostgreSQL targets: one builder, so
 * each suite states only what differs (its levels, where the database lives) and the file layout is one place.
 */

/** The privileges most levels grant: SELECT on the public schema (public.orders of createTargetDatabase). */
export const READ_PUBLIC = '{ schemas: [{ name: public, privileges: [SELECT] }] }';

export interface LevelYaml {
  description?: string;
  /** Flow-style YAML; READ_PUBLIC unless given. */
  privileges?: string;
  maxDuration: string;
  approvers?: string[];
  approvalsRequired?: number;
  approvalWindow?: string;
  /** `true` renders `autoApprove: {}`; a string is written as given (flow-style YAML). */
  autoApprove?: true | string;
  ticketPattern?: string;
  extension?: { autoApproveUpTo: string; maxTotal: string };
  /** Flow-style YAML, written as given. */
  breakGlass?: string;
}

export interface PostgresTargetYaml {
  id: string;
  environment?: string;
  host: string;
  port: number | string;
  database: string;
  levels: Record<string, LevelYaml>;
}

/** An auto-approved read level of 1 h: the level most fault and recovery suites need. */
export const AUTO_READ: LevelYaml = { maxDuration: '1h', autoApprove: true };

function levelYaml(name: string, level: LevelYaml): string {
  const lines = [`      ${name}:`];
  if (level.description !== undefined) lines.push(`        description: ${level.description}`);
  lines.push(`        privileges: ${level.privileges ?? READ_PUBLIC}`);
  lines.push(`        maxDuration: ${level.maxDuration}`);
  if (level.approvers) lines.push(`        approvers: [${level.approvers.join(', ')}]`);
  if (level.approvalsRequired !== undefined)
    lines.push(`        approvalsRequired: ${level.approvalsRequired}`);
  if (level.approvalWindow !== undefined) lines.push(`        approvalWindow: ${level.approvalWindow}`);
  if (level.autoApprove !== undefined)
    lines.push(`        autoApprove: ${level.autoApprove === true ? '{}' : level.autoApprove}`);
  if (level.ticketPattern !== undefined)
    lines.push(`        ticketPattern: ${JSON.stringify(level.ticketPattern)}`);
  if (level.extension)
    lines.push(
      `        extension: { autoApproveUpTo: ${level.extension.autoApproveUpTo}, maxTotal: ${level.extension.maxTotal} }`,
    );
  if (level.breakGlass !== undefined) lines.push(`        breakGlass: ${level.breakGlass}`);
  return lines.join('\n');
}

function targetYaml(target: PostgresTargetYaml): string {
  return [
    `  - id: ${target.id}`,
    '    engine: postgres',
    ...(target.environment === undefined ? [] : [`    environment: ${target.environment}`]),
    `    connection: { host: ${target.host}, port: ${target.port} }`,
    `    database: ${target.database}`,
    '    credentialKind: password',
    '    tls: disable',
    '    levels:',
    ...Object.entries(target.levels).map(([name, level]) => levelYaml(name, level)),
  ].join('\n');
}

/** A policy file of password-credential PostgreSQL targets without TLS (local servers). */
export function postgresPolicyYaml(...targets: PostgresTargetYaml[]): string {
  return `version: 1\ntargets:\n${targets.map(targetYaml).join('\n')}\n`;
}

/** Where a PostgreSQL admin URL points, as a target's connection. */
export function hostPortOf(adminUrl: string): { host: string; port: string } {
  const url = new URL(adminUrl);
  return { host: url.hostname, port: url.port };
}
