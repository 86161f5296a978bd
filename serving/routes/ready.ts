import { errorMessage } from '../../engine/errors.ts';
import type { Route, RouteContext } from './route.ts';

/** Readiness: every served model loaded and the online feature store answering within a second. */
const readiness: Omit<Route, 'path'> = {
  method: 'get',
  name: 'ready',
  scope: 'read',
  summary: 'Readiness: the models served, and whether the registry and the online feature store answer; 503 with the reasons when not ready.',
  responses: { 200: 'ready: `{"ready": true, "reasons": [], "models": […], "online": {…}}`', 503: 'not ready, with the reasons' },
  handle: async (call, _body, context) => {
    const r = await ready(context);
    call.send(r.ready ? 200 : 503, r.body);
  },
};

/** rtml's path and the Open Inference Protocol's. */
export const readyRoutes: readonly Route[] = [
  { ...readiness, path: '/ready' },
  { ...readiness, path: '/v2/health/ready' },
];

async function ready({ catalog, online }: RouteContext): Promise<{ ready: boolean; body: string }> {
  const status = catalog.status();
  const reasons = [...status.reasons];
  let reachable = 'reachable';
  try {
    await Promise.race([online.get('__rtml_ready__', ['ping']), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 1 s')), 1_000).unref())]);
  } catch (err) {
    reachable = `unreachable: ${errorMessage(err)}`;
    reasons.push(`online feature store ${online.description} ${reachable}`);
  }
  const isReady = reasons.length === 0;
  return { ready: isReady, body: JSON.stringify({ ready: isReady, reasons, models: status.models, online: { store: online.description, status: reachable } }) };
}
