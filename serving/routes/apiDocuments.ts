import type { Route } from './route.ts';

/** The API described by the route table itself: OpenAPI for tools, an HTML page for people. Both open, like the health checks. */
export const apiDocumentRoutes: readonly Route[] = [
  {
    method: 'get',
    path: '/openapi.json',
    name: 'openapi',
    scope: null,
    summary: 'This API as an OpenAPI 3.1 document, generated from the route table.',
    responses: { 200: 'the OpenAPI document' },
    handle: (call, _body, { documents }) => call.send(200, documents.openapi),
  },
  {
    method: 'get',
    path: '/docs',
    name: 'docs',
    scope: null,
    summary: 'This API as an HTML page: routes, scopes and body schemas, generated from the route table.',
    responses: { 200: 'the page (HTML)' },
    handle: (call, _body, { documents }) => call.sendText(200, 'text/html; charset=utf-8', documents.html),
  },
];
