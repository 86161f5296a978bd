import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { dashboardAsset, dashboardPage, type DashboardFile } from '../serving/dashboard/assets.ts';
import { FEED_CLIENT_BUFFER_BYTES, FEED_TAKES_NO_MESSAGES, PredictionFeed } from '../serving/dashboard/feed.ts';
import { dashboardSnapshot } from '../serving/dashboard/snapshot.ts';
import { errorBody, statusOf } from '../serving/http.ts';

const ASSETS = '/dashboard/assets/';

/**
 * The live dashboard on a run's metrics port (cli/metricsServer.ts): the same page, files and data
 * as `rtml serve`'s /dashboard routes (serving/dashboard), over node:http, and its predictions feed
 * over a WebSocket (the `ws` package) fed by the run's score() operators through `predictions`.
 */
export class RunDashboard {
  /** What score() offers its predictions to (RunOptions.predictions). */
  readonly predictions: PredictionFeed;
  private readonly sockets = new WebSocketServer({ noServer: true, maxPayload: 1024 });

  constructor(
    private readonly registry: Registry,
    private readonly topology: string,
  ) {
    this.predictions = new PredictionFeed(registry);
  }

  /** Answers a GET under /dashboard; false for other paths. */
  answer(path: string, res: ServerResponse): boolean {
    if (path === '/dashboard') send(res, dashboardPage());
    else if (path === '/dashboard/metrics.json') {
      dashboardSnapshot(this.registry, { server: 'run', title: this.topology }).then(
        (body) => send(res, { body, contentType: 'application/json' }),
        (err: unknown) => fail(res, err),
      );
    } else if (path.startsWith(ASSETS)) {
      try {
        send(res, dashboardAsset(path.slice(ASSETS.length)));
      } catch (err) {
        fail(res, err);
      }
    } else return false;
    return true;
  }

  /** A WebSocket upgrade: /dashboard/predictions is the feed; anything else is answered 404. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if ((req.url ?? '').split('?')[0] !== '/dashboard/predictions') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nno WebSocket here: /dashboard/predictions is the only one\n');
      return;
    }
    this.sockets.handleUpgrade(req, socket, head, (ws) => this.watch(ws));
  }

  /** A viewer of the feed: samples while it keeps up (see PredictionFeed); closed (1003) if it sends anything. */
  private watch(ws: WebSocket): void {
    const unsubscribe = this.predictions.subscribe((text) => {
      if (ws.bufferedAmount > FEED_CLIENT_BUFFER_BYTES) return false;
      ws.send(text);
      return true;
    });
    ws.on('message', () => ws.close(1003, FEED_TAKES_NO_MESSAGES));
    ws.on('error', () => ws.terminate());
    ws.on('close', unsubscribe);
  }

  /** Closes the viewers' connections (1001: the run is stopping), cut after a second when a viewer does not answer the close. */
  close(): Promise<void> {
    for (const ws of this.sockets.clients) {
      ws.close(1001, 'the run is stopping');
      setTimeout(() => ws.terminate(), 1000).unref();
    }
    return new Promise((resolve) => this.sockets.close(() => resolve()));
  }
}

function send(res: ServerResponse, file: DashboardFile): void {
  res.writeHead(200, { 'content-type': file.contentType }).end(file.body);
}

function fail(res: ServerResponse, err: unknown): void {
  res.writeHead(statusOf(err), { 'content-type': 'application/json' }).end(errorBody(err));
}
