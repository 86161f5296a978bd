import type { Route } from './route.ts';

/** Prometheus text exposition of the server's metrics (requests, latency, batches, shadows, WebSocket, ingest, process). */
export const metricsRoute: Route = {
  method: 'get',
  path: '/metrics',
  name: 'metrics',
  scope: 'metrics',
  summary: 'Prometheus metrics: requests by route, model, version and status, latency histograms, batch sizes, shadow deltas, WebSocket and ingest counts, process metrics.',
  responses: { 200: 'Prometheus text format' },
  handle: async (call, _body, { metrics }) => call.sendText(200, metrics.contentType, await metrics.text()),
};
