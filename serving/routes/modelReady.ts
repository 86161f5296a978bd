import type { Route } from './route.ts';

/** Open Inference Protocol model readiness: served, and which version entity-less requests get. */
export const modelReadyRoute: Route = {
  method: 'get',
  path: '/v2/models/{name}/ready',
  name: 'model_ready',
  scope: 'read',
  summary: 'Model readiness (Open Inference Protocol): 200 when the model is served.',
  params: { name: 'the model name' },
  responses: { 200: '`{"name", "ready": true, "serving"}`', 404: 'no such model is served' },
  handle: async (call, _body, { catalog }) => {
    const name = call.params[0]!;
    const handle = await catalog.served(name);
    call.model = name;
    call.send(200, JSON.stringify({ name, ready: true, serving: handle.current().serving('').version }));
  },
};
