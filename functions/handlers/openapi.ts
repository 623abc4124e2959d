import * as z from 'zod/mini';
import { ERROR_CODES } from '../domain/errors.js';
import { ROUTES, type Route } from './routes.js';

/** The OpenAPI 3.1 document, generated from the route table and its zod schemas (input side of transforms). */

type JsonSchema = Record<string, unknown>;

function schemaOf(schema: z.ZodMiniType): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
  }) as JsonSchema;
  const { $schema: _ignored, ...rest } = json;
  return rest;
}

function queryParameters(schema: z.ZodMiniType): JsonSchema[] {
  const json = schemaOf(schema);
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: 'query',
    required: required.has(name),
    schema: property,
  }));
}

function pathParameters(path: string): JsonSchema[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema:
      name === 'id'
        ? {
            type: 'string',
            pattern: '^[0-7][0-9a-hjkmnp-tv-z]{25}$',
            description: 'request id (lowercase ULID)',
          }
        : { type: 'string', description: 'approval-link token' },
  }));
}

const ErrorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_CODES) },
        message: { type: 'string' },
        details: { type: 'object' },
      },
    },
    correlationId: { type: 'string' },
  },
};

function operation(route: Route): JsonSchema {
  const mediaType = route.bodyType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json';
  const success =
    route.produces === 'html'
      ? { description: 'an HTML page', content: { 'text/html': { schema: { type: 'string' } } } }
      : { description: 'success', content: { 'application/json': { schema: { type: 'object' } } } };
  return {
    operationId: route.operationId,
    summary: route.summary,
    'x-handler': route.handler,
    security: route.auth === 'iam' ? [{ sigv4: [] }] : [],
    parameters: [...pathParameters(route.path), ...(route.query ? queryParameters(route.query) : [])],
    ...(route.body
      ? {
          requestBody: {
            required: route.bodyType === 'form',
            content: { [mediaType]: { schema: schemaOf(route.body) } },
          },
        }
      : {}),
    responses: {
      [String(route.successStatus)]: success,
      '4XX': {
        description: 'refused',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
      '5XX': {
        description: 'failed',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    },
  };
}

export function openApiDocument(serverUrl?: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of ROUTES) {
    const entry = paths[route.path] ?? {};
    entry[route.method.toLowerCase()] = operation(route);
    paths[route.path] = entry;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'jit-db-access',
      version: '1',
      description:
        'Just-in-time database access: request, approve, fetch scoped credentials, revoke on time.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    paths,
    components: {
      schemas: { Error: ErrorSchema },
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          'x-amazon-apigateway-authtype': 'awsSigv4',
          description: 'AWS Signature Version 4 (API Gateway AWS_IAM authorization)',
        },
      },
    },
  };
}
