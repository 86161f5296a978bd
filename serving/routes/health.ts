import type { Route } from './route.ts';

/** Liveness: the process answers. Open to anyone, as probes carry no credentials. */
const live: Omit<Route, 'path'> = {
  method: 'get',
  name: 'health',
  scope: null,
  summary: 'Liveness: the server process answers (`{"live": true}`).',
  responses: { 200: 'the server is live' },
  handle: (call) => call.send(200, '{"live":true}'),
};

/** rtml's path and the Open Inference Protocol's. */
export const healthRoutes: readonly Route[] = [
  { ...live, path: '/health' },
  { ...live, path: '/v2/health/live' },
];
