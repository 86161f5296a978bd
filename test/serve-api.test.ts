import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { HTTP_API_DOC } from '../scripts/http-api-docs.ts';
import { apiMarkdown } from '../serving/apiDocs.ts';
import { jsonSchema } from '../serving/openapi.ts';
import { ROUTES, SOCKET_ROUTES } from '../serving/routes/index.ts';
import { get, post, testServer } from './support/serve.ts';

/** The route table is the API: what the server registers, validates, and documents. */

interface Operation {
  requestBody?: { content: { 'application/json': { schema: unknown } } };
  security: Record<string, string[]>[];
  responses: Record<string, unknown>;
  parameters?: { name: string; in: string }[];
  'x-rtml-websocket'?: { message: unknown; answer: string } | { sends: string };
}

describe('the HTTP API from its route table', () => {
  it('serves an OpenAPI 3.1 document listing every route with its body schema, scope and answers, and a docs page with every path', async (t) => {
    const s = await testServer(t);
    const res = await get(`${s.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /application\/json/);
    const doc = JSON.parse(res.text) as { openapi: string; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } };
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiKey', 'bearer']);
    for (const route of ROUTES) {
      const op = doc.paths[route.path]?.[route.method];
      assert.ok(op, `${route.method} ${route.path} missing from /openapi.json`);
      if (route.body === undefined) assert.equal(op.requestBody, undefined, route.path);
      else {
        assert.deepEqual(op.requestBody!.content['application/json'].schema, jsonSchema(route.body), route.path);
        assert.ok('400' in op.responses, `${route.path}: no 400`);
      }
      assert.deepEqual(op.security, route.scope === null ? [] : [{ apiKey: [route.scope] }, { bearer: [route.scope] }], route.path);
      for (const status of Object.keys(route.responses)) assert.ok(status in op.responses, `${route.path}: no ${status}`);
      assert.deepEqual((op.parameters ?? []).map((p) => p.name), [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]), route.path);
    }
    const operations = Object.values(doc.paths).reduce((n, methods) => n + Object.keys(methods).length, 0);
    assert.equal(operations, ROUTES.length + SOCKET_ROUTES.length, 'no operation outside the table');
    for (const socket of SOCKET_ROUTES) {
      assert.deepEqual(doc.paths[socket.path]!.get!['x-rtml-websocket'], 'message' in socket ? { message: jsonSchema(socket.message), answer: socket.answer } : { sends: socket.sends });
    }

    const page = await get(`${s.url}/docs`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.doesNotMatch(page.text, /<script|https?:\/\//, 'self-contained: no scripts, nothing fetched');
    for (const route of [...ROUTES, ...SOCKET_ROUTES]) assert.ok(page.text.includes(route.path), `${route.path} missing from /docs`);
    assert.equal((await post(`${s.url}/docs`, {})).status, 405);
  });

  it('refuses bodies that do not match a route schema with 400 naming the field', async (t) => {
    const s = await testServer(t);
    const cases: [string, unknown, RegExp][] = [
      ['/predict', { model_name: 7 }, /^"model_name" must be a non-empty string, got 7$/],
      ['/predict', { model_name: s.model, return_probabilities: 'yes' }, /^"return_probabilities" must be true or false, got a string$/],
      ['/predict', { model_name: s.model, entity: {} }, /^"entity" must be an object naming exactly one key field .*, got an object with 0 properties$/],
      ['/predict/batch', { model_name: s.model }, /^"instances" must be a non-empty array/],
      ['/predict/batch', { model_name: s.model, instances: [{}, {}, {}, { features: 3 }] }, /^"instances\[3\]\.features" must be an object of feature name to value/],
      ['/predict/batch', { model_name: s.model, instances: [{}, 'row'] }, /^"instances\[1\]" must be a JSON object, got a string$/],
      [`/v2/models/${s.model}/infer`, { inputs: [] }, /^"inputs" must be a non-empty array.*, got an empty array$/],
      [`/v2/models/${s.model}/infer`, { inputs: [{ name: 'features', shape: [1, 0], datatype: 'FP32', data: [] }] }, /^"inputs\[0\]\.shape\[1\]" must be a positive integer, got 0$/],
      [`/v2/models/${s.model}/infer`, { inputs: [{ name: 'features', shape: [1], datatype: 'BYTES', data: [1] }] }, /^"inputs\[0\]\.datatype" must be one of "FP16", .*, got "BYTES"$/],
      [`/v2/models/${s.model}/versions/1/infer`, { id: 5, inputs: [{ name: 'features', shape: [3], datatype: 'FP32', data: [1, 2, 3] }] }, /^"id" must be a string, got 5$/],
      [`/v2/models/${s.model}/versions/1/infer`, { inputs: [{ name: 'features', shape: [3], datatype: 'FP32', data: [1, 2, 3] }], outputs: [{ name: 'proba' }] }, /^"outputs\[0\]\.name" must be one of "score", "label", got "proba"$/],
      ['/events/anything', [], /^expected one event .* or a non-empty array of them, got an empty array$/],
    ];
    for (const route of ROUTES.filter((r) => r.body !== undefined)) {
      assert.ok(cases.some(([path]) => new RegExp(`^${route.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(path)), `no bad-body case for ${route.path}`);
    }
    for (const [path, body, reason] of cases) {
      const answer = await post(`${s.url}${path}`, body);
      assert.equal(answer.status, 400, `${path} ${JSON.stringify(body)} → ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.code, 'RTML_E_HTTP_REQUEST');
      assert.match(answer.body.error as string, reason);
    }
  });

  it('docs/http-api.md is what `npm run docs:api` writes from the table', () => {
    assert.equal(readFileSync(HTTP_API_DOC, 'utf8'), apiMarkdown(ROUTES, SOCKET_ROUTES), 'docs/http-api.md is out of date: run npm run docs:api');
  });
});
