import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { errorMessage, HttpStatus, RtmlError } from '../engine/errors.ts';
import type { ServingMetrics } from './metrics.ts';

/**
 * One HTTP exchange on uWebSockets.js: what the handler read from the request (uWS requests are
 * only valid until the handler returns), the response (valid until it ends or the client goes
 * away) and the body, read with a size limit and a deadline.
 */

const REASONS: Record<number, string> = {
  200: 'OK', 202: 'Accepted', 204: 'No Content', 207: 'Multi-Status', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

export function statusLine(status: number): string {
  return `${status} ${REASONS[status] ?? ''}`;
}

/** The HTTP status for an error: from the catalogue for an RtmlError, else 500. */
export function statusOf(err: unknown): number {
  return err instanceof RtmlError ? (HttpStatus[err.code] ?? 500) : 500;
}

/** Error body: `error` is a string, as the Open Inference Protocol has it; `code` is rtml's catalogue code. */
export function errorBody(err: unknown): string {
  const code = err instanceof RtmlError ? err.code : 'RTML_E_INTERNAL';
  const message = statusOf(err) === 500 ? `internal error: ${errorMessage(err)}` : errorMessage(err);
  return JSON.stringify({ error: message, code });
}

export interface BodyLimits {
  /** Bytes; a larger body is refused with 413 as soon as that is known (Content-Length, or the bytes so far). */
  readonly maxBytes: number;
  /** A body not complete this many ms after its request started is refused with 408. */
  readonly timeoutMs: number;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * One request and its answer. It counts itself in the metrics: in flight from construction, then
 * one request by route, model, version and status (499 when the client went away first).
 */
export class Exchange {
  readonly started = performance.now();
  readonly method: string;
  readonly url: string;
  readonly authorization: string;
  readonly apiKey: string;
  readonly contentType: string;
  readonly contentLength: string;
  /** Route parameters, in order. */
  readonly params: string[];
  aborted = false;
  ended = false;
  status = 0;
  /** Metric labels, set once the model is known. */
  model = '';
  version = '';
  /** Extra headers for the response (e.g. Retry-After). */
  private headers: [string, string][] | undefined;
  private finished = false;

  constructor(
    readonly res: HttpResponse,
    req: HttpRequest,
    paramCount: number,
    readonly route: string,
    private readonly metrics: ServingMetrics,
  ) {
    this.method = req.getMethod();
    this.url = req.getUrl();
    this.authorization = req.getHeader('authorization');
    this.apiKey = req.getHeader('x-api-key');
    this.contentType = req.getHeader('content-type');
    this.contentLength = req.getHeader('content-length');
    this.params = [];
    for (let i = 0; i < paramCount; i++) this.params.push(decodeParam(req.getParameter(i)));
    metrics.traffic.started();
    res.onAborted(() => {
      this.aborted = true;
      this.finish();
    });
  }

  header(name: string, value: string): this {
    (this.headers ??= []).push([name, value]);
    return this;
  }

  /** Sends a JSON body (already serialised). `close` also closes the connection (for a body left unread; every connection, while the server drains). */
  send(status: number, json: string, close = false): void {
    this.sendText(status, 'application/json', json, close);
  }

  sendText(status: number, contentType: string, body: string, close = false): void {
    if (this.ended || this.aborted) return;
    this.status = status;
    this.ended = true;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(status)).writeHeader('content-type', contentType);
      if (this.headers) for (const [name, value] of this.headers) res.writeHeader(name, value);
      res.end(body, close || this.metrics.traffic.draining);
    });
    this.finish();
  }

  fail(err: unknown, close = false): void {
    if (err instanceof RtmlError && err.code === 'RTML_E_HTTP_UNAUTHORIZED') this.header('www-authenticate', 'Bearer');
    this.send(statusOf(err), errorBody(err), close);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.metrics.traffic.finished();
    this.metrics.request(this.route, this.model, this.version, this.aborted ? 499 : this.status, (performance.now() - this.started) / 1000);
  }
}

/**
 * Reads the body as text. Refuses with 413 before reading when Content-Length says it is too
 * large, or as soon as the bytes received pass the limit (chunked uploads); the connection is then
 * closed rather than drained. Bodies still incomplete at their deadline get 408 (see BodyTimer).
 */
export interface BodyReceiver {
  received(text: string): void;
}

export function readBody(exchange: Exchange, limits: BodyLimits, timer: BodyTimer, receiver: BodyReceiver): void {
  const declared = exchange.contentLength === '' ? -1 : Number(exchange.contentLength);
  if (declared > limits.maxBytes) {
    exchange.fail(new RtmlError('RTML_E_HTTP_TOO_LARGE', `request body of ${declared} bytes is over the limit of ${limits.maxBytes} bytes`), true);
    return;
  }
  let chunks: Buffer[] | undefined;
  let received = 0;
  const deadline = timer.add(exchange, exchange.started + limits.timeoutMs);
  exchange.res.onData((chunk, isLast) => {
    if (exchange.ended) return;
    received += chunk.byteLength;
    if (received > limits.maxBytes) {
      timer.remove(deadline);
      exchange.fail(new RtmlError('RTML_E_HTTP_TOO_LARGE', `request body is over the limit of ${limits.maxBytes} bytes`), true);
      return;
    }
    if (isLast) timer.remove(deadline);
    if (isLast && chunks === undefined) {
      receiver.received(decoder.decode(chunk)); // the common case, one chunk: decoded straight from uWS's buffer
      return;
    }
    (chunks ??= []).push(Buffer.from(chunk.slice(0)));
    if (isLast) receiver.received(decoder.decode(Buffer.concat(chunks, received)));
  });
}

interface Deadline {
  readonly exchange: Exchange;
  readonly at: number;
}

/**
 * Deadlines of request bodies (slow or stalled clients), checked by one interval rather than a
 * timer per request: adding and removing one is a Set operation.
 */
export class BodyTimer {
  private readonly pending = new Set<Deadline>();
  private readonly interval: NodeJS.Timeout;

  constructor(checkEveryMs: number) {
    this.interval = setInterval(() => this.expire(), checkEveryMs).unref();
  }

  add(exchange: Exchange, at: number): Deadline {
    const deadline = { exchange, at };
    this.pending.add(deadline);
    return deadline;
  }

  remove(deadline: Deadline): void {
    this.pending.delete(deadline);
  }

  private expire(): void {
    const now = performance.now();
    for (const d of this.pending) {
      if (d.exchange.ended || d.exchange.aborted) this.pending.delete(d);
      else if (now >= d.at) {
        this.pending.delete(d);
        d.exchange.fail(new RtmlError('RTML_E_HTTP_TIMEOUT', `request body not complete after ${Math.round(now - d.exchange.started)} ms`), true);
      }
    }
  }

  close(): void {
    clearInterval(this.interval);
  }
}

/** Parses a JSON body; 400 naming the parse error. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RtmlError('RTML_E_HTTP_JSON', `malformed JSON: ${errorMessage(err)}`);
  }
}

/** A path parameter, percent-decoded; malformed escapes (`%ZZ`) are kept as they are, for the route to refuse by name. */
function decodeParam(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Client-supplied text in messages, cut short. */
export function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
