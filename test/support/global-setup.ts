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
  const started = await Promise.all([startDynamoDbLocal(), startPostgres(), startMysql()]);
  const [dynamo, pg, mysql] = started;
  project.provide('services', {
    dynamodbEndpoint: dynamo.url,
    pgAdminUrl: pg.url,
    mysqlAdminUrl: mysql.url,
  });
  return async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
  };
}
