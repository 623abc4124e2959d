import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from './dynamodb-local.js';
import { startMysql } from './mysql-server.js';
import { startPostgres } from './postgres-server.js';

/** The real services every non-unit suite shares; each suite makes its own tables, databases and roles. */
export interface Services {
  /** http://127.0.0.1:PORT of DynamoDB Local. */
  dynamodbEndpoint: string;
  /** postgres://admin:pw@127.0.0.1:PORT/postgres — a superuser; the server enforces scram-sha-256. */
  pgAdminUrl: string;
  /** mysql://root:pw@127.0.0.1:PORT — an admin able to CREATE USER / GRANT / KILL. */
  mysqlAdminUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: Services;
  }
}

export default async function setup(project: TestProject) {
  const settled = await Promise.allSettled([startDynamoDbLocal(), startPostgres(), startMysql()]);
  const [dynamo, pg, mysql] = settled;
  if (dynamo.status !== 'fulfilled' || pg.status !== 'fulfilled' || mysql.status !== 'fulfilled') {
    // Stop what did start: a server left running would outlive the failed run.
    await Promise.allSettled(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.stop()] : [])));
    const failed = settled.find((s) => s.status === 'rejected');
    throw failed?.reason;
  }
  const started = [dynamo.value, pg.value, mysql.value];
  project.provide('services', {
    dynamodbEndpoint: dynamo.value.url,
    pgAdminUrl: pg.value.url,
    mysqlAdminUrl: mysql.value.url,
  });
  return async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
  };
}
