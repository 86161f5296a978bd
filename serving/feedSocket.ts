import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { FEED_CLIENT_BUFFER_BYTES, FEED_TAKES_NO_MESSAGES } from './dashboard/feed.ts';
import type { FeedRoute } from './routes/route.ts';
import { admittedUpgrade, type SocketRouteOptions } from './socket.ts';

interface FeedConnection {
  unsubscribe: (() => void) | undefined;
}

/**
 * A WebSocket route that only sends (FeedRoute): credentials for its scope at the upgrade, then
 * each connection gets what the feed publishes. A client with more than FEED_CLIENT_BUFFER_BYTES
 * unsent misses messages until it has read them (the feed counts them): what publishes never
 * waits for it, and nothing piles up. A message from the client closes it (1003).
 */
export function openFeedRoute(app: TemplatedApp, spec: FeedRoute, options: SocketRouteOptions): { closeAll(): void } {
  const { metrics } = options;
  const feed = spec.feed(options.context);
  const open = new Set<WebSocket<FeedConnection>>();
  const end = (ws: WebSocket<FeedConnection>, code: number, reason: string, metric: string) => {
    metrics.wsClosed.labels(metric).inc();
    ws.end(code, reason);
  };
  app.ws<FeedConnection>(spec.path, {
    maxPayloadLength: 1024,
    idleTimeout: options.limits?.idleTimeoutSeconds ?? 120,
    sendPingsAutomatically: true,
    maxBackpressure: FEED_CLIENT_BUFFER_BYTES * 2,
    upgrade: admittedUpgrade(spec, options.admission, (): FeedConnection => ({ unsubscribe: undefined })),
    open: (ws) => {
      open.add(ws);
      metrics.wsConnections.inc();
      ws.getUserData().unsubscribe = feed.subscribe((text) => {
        if (ws.getBufferedAmount() > FEED_CLIENT_BUFFER_BYTES) return false;
        ws.send(text);
        return true;
      });
    },
    close: (ws) => {
      ws.getUserData().unsubscribe?.();
      open.delete(ws);
      metrics.wsConnections.dec();
    },
    message: (ws) => end(ws, 1003, FEED_TAKES_NO_MESSAGES, 'unexpected_message'),
  });
  return {
    closeAll: () => {
      for (const ws of [...open]) end(ws, 1001, 'server shutting down', 'shutdown');
    },
  };
}
