import * as z from 'zod/mini';
import './zod-locale.js';

/** How to reach a target: an RDS instance or cluster (endpoint resolved with the RDS API), or a host and port. */
export const Connection = z.union([
  z.strictObject({
    rdsInstanceId: z.string().check(z.minLength(1), z.maxLength(63)),
    region: z.optional(z.string()),
  }),
  z.strictObject({
    rdsClusterId: z.string().check(z.minLength(1), z.maxLength(63)),
    region: z.optional(z.string()),
  }),
  z.strictObject({
    host: z.string().check(z.minLength(1), z.maxLength(253)),
    port: z.int().check(z.gte(1), z.lte(65535)),
    region: z.optional(z.string()),
    /** For IAM tokens on host/port targets, the DbiResourceId the token's policy is scoped to. */
    resourceId: z.optional(z.string()),
  }),
]);
export type Connection = z.infer<typeof Connection>;

/** True for the loopback names and addresses (127.0.0.0/8, ::1, localhost): the only hosts `tls: disable` may name. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** RDS (an instance or cluster id): TLS verifies against the RDS CA by default. */
export function isRdsConnection(connection: Connection): boolean {
  return 'rdsInstanceId' in connection || 'rdsClusterId' in connection;
}
