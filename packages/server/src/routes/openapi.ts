import { ApiErrorBody, errorCodes } from '@p2pvps/protocol/errors';
import { openApiPath, routes, type RouteContract } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;

function parameters(contract: RouteContract): object[] {
  const list: object[] = [];
  for (const where of ['params', 'query'] as const) {
    const schema = contract[where];
    if (!schema) continue;
    const js = jsonSchema(schema, 'input') as { properties?: Record<string, object>; required?: string[] };
    for (const [name, prop] of Object.entries(js.properties ?? {})) {
      list.push({
        name,
        in: where === 'params' ? 'path' : 'query',
        required: where === 'params' || (js.required ?? []).includes(name),
        schema: prop,
      });
    }
  }
  return list;
}

/** The OpenAPI 3.1 document, generated from the same route table that validates requests. */
export function buildOpenApi(version: string): object {
  const paths: Record<string, Record<string, object>> = {};
  const errorResponse = {
    description: 'Error envelope; see docs/errors.md for the codes.',
    content: { 'application/json': { schema: jsonSchema(ApiErrorBody, 'output') } },
  };
  for (const [operationId, contract] of Object.entries(routes) as [string, RouteContract][]) {
    const path = contract.path.replace(/:([A-Za-z]+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][contract.method.toLowerCase()] = {
      operationId,
      summary: contract.summary,
      security: contract.auth === 'none' ? [] : [{ [contract.auth === 'device' ? 'deviceSignature' : 'bearer']: [] }],
      parameters: parameters(contract),
      ...(contract.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(contract.body, 'input') } } } }
        : {}),
      responses: {
        [String(contract.status ?? 200)]: {
          description: 'Success',
          content: { 'application/json': { schema: jsonSchema(contract.response, 'output') } },
        },
        '4XX': errorResponse,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'p2pvps marketplace API', version, description: `Error codes: ${Object.keys(errorCodes).join(', ')}.` },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'API token from signup or login.' },
        deviceSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'authorization',
          description: 'P2PVPS-Device id=…,ts=…,sig=… (Ed25519 over the request).',
        },
      },
    },
    paths,
  };
}

export function openApiRoute(app: FastifyInstance, version: string): void {
  const doc = buildOpenApi(version);
  app.get(openApiPath, async () => doc);
}
