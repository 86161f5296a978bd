import { dashboardAsset, dashboardPage } from '../dashboard/assets.ts';
import { dashboardSnapshot } from '../dashboard/snapshot.ts';
import type { FeedRoute, Route } from './route.ts';

/**
 * The live dashboard (serving/dashboard): the page and its files are open, like /docs (they hold no
 * data); its data, the metrics snapshot and the predictions feed, need the `metrics` scope, as
 * /metrics does (the page passes `?api_key=` on).
 */
export const dashboardRoutes: readonly Route[] = [
  {
    method: 'get',
    path: '/dashboard',
    name: 'dashboard',
    scope: null,
    summary: 'The live dashboard (HTML): throughput, latency, model versions and traffic split, predictions as they are scored. Open it as `/dashboard?api_key=KEY` when the server has keys.',
    responses: { 200: 'the page (HTML)' },
    handle: (call) => {
      const page = dashboardPage();
      call.sendText(200, page.contentType, page.body);
    },
  },
  {
    method: 'get',
    path: '/dashboard/assets/{file}',
    name: 'dashboard',
    scope: null,
    summary: "The dashboard's script and its charting library (uPlot, from the installed package).",
    params: { file: '`dashboard.js`, `uPlot.iife.min.js` or `uPlot.min.css`' },
    responses: { 200: 'the file', 404: 'no such file' },
    handle: (call) => {
      const file = dashboardAsset(call.params[0]!);
      call.sendText(200, file.contentType, file.body);
    },
  },
  {
    method: 'get',
    path: '/dashboard/metrics.json',
    name: 'dashboard',
    scope: 'metrics',
    summary: "The dashboard's data: the server's `rtml_` metrics as JSON (prom-client's form) and each model's routing, read once a second by the page.",
    responses: { 200: '`{"server": "serve", "title", "time", "models": [{"name", "serving", "reason"?}], "metrics": [{"name", "type", "values": [{"labels", "value", "metricName"?}]}]}`' },
    handle: async (call, _body, { metrics, catalog }) => call.send(200, await dashboardSnapshot(metrics.registry, { server: 'serve', title: 'rtml serve', models: catalog.status().models })),
  },
];

export const dashboardFeedRoute: FeedRoute = {
  path: '/dashboard/predictions',
  name: 'dashboard_predictions',
  scope: 'metrics',
  summary: 'A random sample of the predictions answered (about 20 a second), pushed as they are scored; the dashboard lists them. A client that falls behind misses samples (counted in `rtml_dashboard_samples_dropped_total`); a message from the client closes the connection (1003). Credentials at the upgrade (headers, or `?api_key=`).',
  sends: '`{"model", "version", "key" (the request\'s entity, or ""), "score", "label", "time" (epoch ms)}`',
  feed: ({ predictions }) => predictions,
};
