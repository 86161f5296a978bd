import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import { RtmlError, errorMessage } from '../engine/errors.ts';
import type { Principal } from './auth.ts';
import { errorBody, statusLine, statusOf } from './http.ts';
import type { ServingMetrics } from './metrics.ts';

export interface SocketLimits {
  /** Requests of one connection received and not yet answered; one more closes it (1008). */
  readonly maxInFlight: number;
  /** Answers buffered for a client that does not read them; past this the connection is closed (1013). */
  readonly maxBufferedBytes: number;
  /** A larger message closes the connection (1009, by uWebSockets.js). */
  readonly maxMessageBytes: number;
  /** Seconds without a message either way before the connection is closed (pings keep it open). */
  readonly idleTimeoutSeconds: number;
}

const DEFAULTS: SocketLimits = { maxInFlight: 4096, maxBufferedBytes: 4 << 20, maxMessageBytes: 64 << 10, idleTimeoutSeconds: 120 };

export interface SocketRouteOptions {
  readonly limits?: Partial<SocketLimits>;
  readonly metrics: ServingMetrics;
  authenticate(authorization: string, apiKey: string): Principal | Promise<Principal>;
  /** The rate-limit error for one more request of `principal`, or undefined to go ahead. */
  admit(principal: Principal): RtmlError | undefined;
  /** Scores one request object; calls `reply.answer` with the result fields or an error, exactly once. */
  predict(request: Record<string, unknown>, reply: SocketReply): void | Promise<void>;
}

/** The answer owed to one message. */
export class SocketReply {
  constructor(
    private readonly ws: WebSocket<Connection>,
    private readonly id: string | number,
    private readonly route: SocketRoute,
  ) {}

  answer(result: Record<string, unknown> | RtmlError): void {
    const connection = this.ws.getUserData();
    connection.inFlight--;
    if (connection.closed) return;
    send(this.ws, this.id, result);
    if (this.ws.getBufferedAmount() > this.route.limits.maxBufferedBytes) {
      this.route.close(this.ws, 1013, `client reads too slowly: over ${this.route.limits.maxBufferedBytes} bytes of answers unread`, 'slow_reader');
    }
  }
}

class SocketRoute {
  constructor(
    readonly limits: SocketLimits,
    private readonly metrics: ServingMetrics,
  ) {}

  close(ws: WebSocket<Connection>, code: number, reason: string, metric: string): void {
    const connection = ws.getUserData();
    if (connection.closed) return;
    connection.closed = true;
    this.metrics.wsClosed.labels(metric).inc();
    ws.end(code, reason);
  }
}

interface Connection {
  principal: Principal;
  inFlight: number;
  closed: boolean;
}

const decoder = new TextDecoder();

/**
 * WebSocket scoring at `path`: a client sends `{ "id": …, "model_name": …, "features": {…},
 * "entity": {…} }` messages and gets `{ "id": …, "score": …, … }` (or `{ "id": …, "error": …,
 * "code": …, "status": … }`) as each is ready, in any order, many in flight. Credentials are
 * checked once, at the upgrade (headers, or `?api_key=` for browsers); the rate limit per message.
 *
 * Backpressure: uWebSockets.js cannot stop reading one socket, so a client is bounded instead —
 * too many requests unanswered closes it with 1008, and answers piling up unread past
 * `maxBufferedBytes` close it with 1013 (try again later). Nothing is buffered without bound.
 */
export function openSocketRoute(app: TemplatedApp, path: string, options: SocketRouteOptions): void {
  const limits = { ...DEFAULTS, ...options.limits };
  const { metrics } = options;
  const route = new SocketRoute(limits, metrics);

  app.ws<Connection>(path, {
    maxPayloadLength: limits.maxMessageBytes,
    idleTimeout: limits.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    // Above our own limit, so uWS never drops an answer silently: we close first.
    maxBackpressure: limits.maxBufferedBytes * 2,
    upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const apiKey = req.getHeader('x-api-key') || req.getQuery('api_key') || '';
      let aborted = false;
      res.onAborted(() => (aborted = true));
      const upgrade = (principal: Principal) => {
        if (!aborted) res.cork(() => res.upgrade<Connection>({ principal, inFlight: 0, closed: false }, key, protocol, extensions, context));
      };
      const refuse = (err: unknown) => {
        if (!aborted) res.cork(() => res.writeStatus(statusLine(statusOf(err))).writeHeader('content-type', 'application/json').end(errorBody(err)));
      };
      try {
        const principal = options.authenticate(req.getHeader('authorization'), apiKey);
        if (principal instanceof Promise) principal.then(upgrade, refuse);
        else upgrade(principal);
      } catch (err) {
        refuse(err);
      }
    },
    open: () => metrics.wsConnections.inc(),
    close: (ws) => {
      ws.getUserData().closed = true;
      metrics.wsConnections.dec();
    },
    message: (ws, message) => {
      const connection = ws.getUserData();
      if (connection.closed) return;
      let request: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(decoder.decode(message));
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('expected a JSON object');
        request = parsed as Record<string, unknown>;
      } catch (err) {
        send(ws, null, new RtmlError('RTML_E_HTTP_JSON', `malformed message: ${errorMessage(err)}`));
        return;
      }
      const id = request.id;
      if (typeof id !== 'string' && typeof id !== 'number') {
        send(ws, null, new RtmlError('RTML_E_HTTP_REQUEST', 'every message needs an "id" (string or number) to match its answer'));
        return;
      }
      if (++connection.inFlight > limits.maxInFlight) {
        route.close(ws, 1008, `more than ${limits.maxInFlight} requests in flight`, 'in_flight');
        return;
      }
      const reply = new SocketReply(ws, id, route);
      const limited = options.admit(connection.principal);
      if (limited !== undefined) {
        reply.answer(limited);
        return;
      }
      try {
        const pending = options.predict(request, reply);
        if (pending instanceof Promise) pending.catch((err: unknown) => reply.answer(asRtmlError(err)));
      } catch (err) {
        reply.answer(asRtmlError(err));
      }
    },
  });
}

function asRtmlError(err: unknown): RtmlError {
  return err instanceof RtmlError ? err : new RtmlError('RTML_E_UNAVAILABLE', errorMessage(err));
}

function send(ws: WebSocket<Connection>, id: unknown, result: Record<string, unknown> | RtmlError): void {
  const body = result instanceof RtmlError ? { id, error: result.message, code: result.code, status: statusOf(result) } : { id, ...result };
  ws.cork(() => ws.send(JSON.stringify(body)));
}
