import * as z from 'zod/mini';
import type { ErrorCode } from '../domain/errors.js';
import { httpStatusFor } from '../shared/http.js';
import { errorResponse } from '../views/responses.js';
import { errorCodesOf, ROUTES, type Route } from './routes.js';

/**
 * The OpenAPI 3.1 document, generated from the route table and its zod schemas: the input side of request
 * schemas' transforms, the output side of response schemas.
 */

type JsonSchema = Record<string, unknown>;

function schemaOf(schema: z.ZodMiniType, io: 'input' | 'output' = 'input'): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io,
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

/** The refusals an operation can give, one response per status, each naming its codes. */
function errorResponses(route: Route): Record<string, JsonSchema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorCodesOf(route)) {
    const status = httpStatusFor(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, JsonSchema> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const description = `${status >= 500 ? 'failed' : 'refused'}: ${codes.join(', ')}`;
    responses[String(status)] =
      route.produces === 'html'
        ? {
            description: `${description} (an HTML page naming the code)`,
            content: { 'text/html': { schema: { type: 'string' } } },
          }
        : {
            description,
            content: { 'application/json': { schema: schemaOf(errorResponse(codes), 'output') } },
          };
  }
  return responses;
}

function operation(route: Route): JsonSchema {
  const mediaType = route.bodyType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json';
  const success = {
    description: route.produces === 'html' ? 'an HTML page' : 'success',
    content: {
      [route.produces === 'html' ? 'text/html' : 'application/json']: {
        schema: schemaOf(route.response, 'output'),
      },
    },
  };
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
      ...errorResponses(route),
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
      schemas: { Error: schemaOf(errorResponse(), 'output') },
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
