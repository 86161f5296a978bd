import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { RtmlError } from '../engine/errors.ts';
import type { PredictionTap } from '../engine/predictionTap.ts';
import { RunDashboard } from './dashboard.ts';

/**
 * `rtml run --metrics-port N`: the run's Prometheus metrics over HTTP (node:http).
 * `GET /metrics` is the registry in the Prometheus text format (the engine's `rtml_…` metrics,
 * engine/metrics.ts, plus prom-client's process and Node.js metrics); `GET /health` answers 200
 * while the run is running, 503 once it is stopping; `GET /dashboard` is the live dashboard
 * (cli/dashboard.ts).
 */
export interface MetricsServer {
  readonly registry: Registry;
  /** The dashboard's predictions feed, for RunOptions.predictions. */
  readonly predictions: PredictionTap;
  /** http://host:port (the port the system chose for --metrics-port 0). */
  readonly url: string;
  /** The run is stopping: /health answers 503 from now on. */
  stopping(): void;
  close(): Promise<void>;
}

export async function startMetricsServer(port: number, host: string, topology: string): Promise<MetricsServer> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let running = true;
  const dashboard = new RunDashboard(registry, topology);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
      );
    } else if (path === '/health') {
      res.writeHead(running ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ status: running ? 'running' : 'stopping', topology })}\n`);
    } else if (!dashboard.answer(path, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics, /health or /dashboard\n');
    }
  });
  server.on('upgrade', (req, socket, head) => dashboard.upgrade(req, socket, head));
  server.keepAliveTimeout = 5_000;
  try {
    server.listen(port, host);
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  } catch (err) {
    throw new RtmlError('RTML_E_USAGE', `--metrics-port ${port}: cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err });
  }
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    registry,
    predictions: dashboard.predictions,
    url: `http://${shown}:${address.port}`,
    stopping: () => (running = false),
    close: async () => {
      running = false;
      await dashboard.close();
      server.closeAllConnections();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
