import type { TSchema } from '@sinclair/typebox';
import { SCOPES } from './apiKeys.ts';
import { pathParams, responsesOf, type Route, type WebSocketRoute } from './routes/route.ts';
import { RTML_VERSION } from '../engine/packageInfo.ts';

/**
 * The OpenAPI 3.1 document of a route table: paths and methods, path parameters, request body
 * schemas (the TypeBox schemas the server validates with, as JSON Schema 2020-12), security by
 * scope and every response code. WebSocket routes appear as their upgrade (GET, 101) with the
 * message schema and answer under `x-rtml-websocket` (what it sends, for a route that only sends).
 */


const ERROR = { $ref: '#/components/schemas/Error' };

export function openApiDocument(routes: readonly Route[], sockets: readonly WebSocketRoute[]): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes) (paths[route.path] ??= {})[route.method] = operation(route);
  for (const socket of sockets) {
    (paths[socket.path] ??= {}).get = {
      operationId: operationId('get', socket.path),
      summary: socket.summary,
      security: security(socket.scope),
      'x-rtml-websocket': 'message' in socket ? { message: jsonSchema(socket.message), answer: socket.answer } : { sends: socket.sends },
      responses: {
        101: { description: 'switched to the WebSocket protocol' },
        401: { description: 'no credentials, or invalid ones', content: { 'application/json': { schema: ERROR } } },
        403: { description: `the credentials lack the scope \`${socket.scope}\``, content: { 'application/json': { schema: ERROR } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'rtml serve',
      version: RTML_VERSION,
      description: `Real-time scoring, model metadata and event ingestion. Credentials carry scopes (${SCOPES.join(', ')}); a route names the scope it needs. Errors are \`{"error": "<reason>", "code": "RTML_E_…"}\`.`,
    },
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'an API key from `rtml serve --api-keys` (also accepted as `Authorization: Bearer <key>`)' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'a JWT whose `scope`/`scopes` claim names the scopes' },
      },
      schemas: {
        Error: { type: 'object', required: ['error', 'code'], properties: { error: { type: 'string' }, code: { type: 'string', pattern: '^RTML_E_' } } },
      },
    },
  };
}

function operation(route: Route): object {
  const params = pathParams(route.path);
  return {
    operationId: operationId(route.method, route.path),
    summary: route.summary,
    ...(params.length === 0 ? {} : { parameters: params.map((name) => ({ name, in: 'path', required: true, description: route.params?.[name] ?? name, schema: { type: 'string' } })) }),
    ...(route.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } }),
    security: security(route.scope),
    responses: Object.fromEntries(responsesOf(route).map(([status, description]) => [status, status >= 400 ? { description, content: { 'application/json': { schema: ERROR } } } : { description }])),
  };
}

/** OpenAPI 3.1: for schemes other than OAuth, the array lists the roles (here: scopes) required. */
function security(scope: string | null): object[] {
  return scope === null ? [] : [{ apiKey: [scope] }, { bearer: [scope] }];
}

function operationId(method: string, path: string): string {
  return `${method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+/g, '_').replace(/_$/, '')}`;
}

/** The schema as plain JSON (TypeBox's symbol keys dropped). */
export function jsonSchema(schema: TSchema): object {
  return JSON.parse(JSON.stringify(schema)) as object;
}
