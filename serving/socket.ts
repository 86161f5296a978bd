import type { Static, TSchema } from '@sinclair/typebox';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import { RtmlError, errorMessage } from '../engine/errors.ts';
import type { Admission } from './admission.ts';
import type { Scope } from './apiKeys.ts';
import type { Principal } from './auth.ts';
import { openFeedRoute } from './feedSocket.ts';
import { errorBody, statusLine, statusOf } from './http.ts';
import type { ServingMetrics } from './metrics.ts';
import type { MessageRoute, RouteContext, WebSocketRoute } from './routes/route.ts';
import { bodyValidator } from './validation.ts';

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
  readonly admission: Admission;
  readonly context: RouteContext;
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
  /** Open connections, closed with 1001 (going away) when the server shuts down. */
  readonly open = new Set<WebSocket<Connection>>();

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

/** Registers a WebSocket route: one that answers messages, or one that only sends (serving/feedSocket.ts). */
export function openSocketRoute(app: TemplatedApp, spec: WebSocketRoute, options: SocketRouteOptions): { closeAll(): void } {
  return 'message' in spec ? openMessageRoute(app, spec, options) : openFeedRoute(app, spec, options);
}

/**
 * A WebSocket route that answers messages: a client sends JSON messages with an `"id"`, each
 * validated against the route's message schema, and gets `{ "id": …, <answer fields> }` (or
 * `{ "id": …, "error": …, "code": …, "status": … }`) as each is ready, in any order, many in
 * flight. Credentials for the route's scope are checked once, at the upgrade (headers, or
 * `?api_key=` for browsers); the rate limit per message.
 *
 * Backpressure: uWebSockets.js cannot stop reading one socket, so a client is bounded instead —
 * too many requests unanswered closes it with 1008, and answers piling up unread past
 * `maxBufferedBytes` close it with 1013 (try again later). Nothing is buffered without bound.
 */
function openMessageRoute<S extends TSchema>(app: TemplatedApp, spec: MessageRoute<S>, options: SocketRouteOptions): { closeAll(): void } {
  const limits = { ...DEFAULTS, ...options.limits };
  const { metrics, admission } = options;
  const route = new SocketRoute(limits, metrics);
  const validate = bodyValidator(spec.message);

  const closeAll = () => {
    for (const ws of [...route.open]) route.close(ws, 1001, 'server shutting down', 'shutdown');
  };
  app.ws<Connection>(spec.path, {
    maxPayloadLength: limits.maxMessageBytes,
    idleTimeout: limits.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    // Above our own limit, so uWS never drops an answer silently: we close first.
    maxBackpressure: limits.maxBufferedBytes * 2,
    upgrade: admittedUpgrade(spec, admission, (principal): Connection => ({ principal, inFlight: 0, closed: false })),
    open: (ws) => {
      route.open.add(ws);
      metrics.wsConnections.inc();
    },
    close: (ws) => {
      ws.getUserData().closed = true;
      route.open.delete(ws);
      metrics.wsConnections.dec();
    },
    message: (ws, message) => {
      const connection = ws.getUserData();
      if (connection.closed) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(decoder.decode(message));
      } catch (err) {
        send(ws, null, new RtmlError('RTML_E_HTTP_JSON', `malformed message: ${errorMessage(err)}`));
        return;
      }
      let request: Static<S>;
      try {
        request = validate(parsed);
      } catch (err) {
        send(ws, idOf(parsed), err as RtmlError); // answered with its id when it has one, else null
        return;
      }
      const id = idOf(parsed)!;
      if (++connection.inFlight > limits.maxInFlight) {
        route.close(ws, 1008, `more than ${limits.maxInFlight} requests in flight`, 'in_flight');
        return;
      }
      const reply = new SocketReply(ws, id, route);
      const limited = admission.limit(connection.principal);
      if (limited !== undefined) {
        reply.answer(limited.error);
        return;
      }
      try {
        const pending = spec.handle(request, reply, options.context);
        if (pending instanceof Promise) pending.catch((err: unknown) => reply.answer(asRtmlError(err)));
      } catch (err) {
        reply.answer(asRtmlError(err));
      }
    },
  });
  return { closeAll };
}

/**
 * A route's upgrade: credentials for its scope (headers, or `?api_key=` for browsers), then the
 * upgrade with the connection's data, or the error as the HTTP answer.
 */
export function admittedUpgrade<U>(spec: { readonly scope: Scope; readonly name: string }, admission: Admission, connection: (principal: Principal) => U) {
  return (res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void => {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const apiKey = req.getHeader('x-api-key') || req.getQuery('api_key') || '';
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const upgrade = (principal: Principal) => {
      if (!aborted) res.cork(() => res.upgrade<U>(connection(principal), key, protocol, extensions, context));
    };
    const refuse = (err: unknown) => {
      if (!aborted) res.cork(() => res.writeStatus(statusLine(statusOf(err))).writeHeader('content-type', 'application/json').end(errorBody(err)));
    };
    try {
      const principal = admission.authenticate(spec.scope, req.getHeader('authorization'), apiKey, spec.name, res);
      if (principal instanceof Promise) principal.then(upgrade, refuse);
      else upgrade(principal);
    } catch (err) {
      refuse(err);
    }
  };
}

/** The message's `id` when it is one (a string or a number), to match an error to its message. */
function idOf(parsed: unknown): string | number | null {
  const id = typeof parsed === 'object' && parsed !== null ? (parsed as { id?: unknown }).id : undefined;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

function asRtmlError(err: unknown): RtmlError {
  return err instanceof RtmlError ? err : new RtmlError('RTML_E_UNAVAILABLE', errorMessage(err));
}

function send(ws: WebSocket<Connection>, id: unknown, result: Record<string, unknown> | RtmlError): void {
  const body = result instanceof RtmlError ? { id, error: result.message, code: result.code, status: statusOf(result) } : { id, ...result };
  ws.cork(() => ws.send(JSON.stringify(body)));
}
