import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp } from 'uWebSockets.js';
import { RtmlError, errorMessage } from '../engine/errors.ts';
import type { OnlineStore } from '../connectors/features/stores.ts';
import type { RegistryModel, RegistryModelHandle, RegistryModelProvider } from '../models/registry/index.ts';
import type { Scope } from './apiKeys.ts';
import { createAuthenticator, type AuthOptions, type Authenticator, type Principal } from './auth.ts';
import { Batcher, type Job, type Prediction } from './batcher.ts';
import { ModelCatalog } from './catalog.ts';
import { BodyTimer, Exchange, parseJson, readBody, type BodyLimits, type BodyReceiver } from './http.ts';
import type { IngestTopic } from './ingest.ts';
import { parseInstance, type Instance } from './instances.ts';
import { ServingMetrics } from './metrics.ts';
import { inferRequest, inferResponse, modelMetadata, type InferRequest } from './oip.ts';
import { RateLimiter, rateLimitError, retryAfterSeconds, type RateLimit } from './rateLimit.ts';
import { openSocketRoute, type SocketLimits, type SocketReply } from './socket.ts';

export interface ServeOptions {
  readonly port: number;
  readonly host: string;
  readonly models: RegistryModelProvider;
  /** Serve only these model names (default: every name in the registry). */
  readonly only?: readonly string[];
  readonly online: OnlineStore;
  readonly ingest?: readonly IngestTopic[];
  readonly auth?: AuthOptions;
  /** Limit for principals whose key names none (and for anonymous clients). */
  readonly rate?: RateLimit;
  readonly body?: Partial<BodyLimits>;
  readonly socket?: Partial<SocketLimits>;
  /** Rows that flush a request batch at once (default 512). */
  readonly maxBatchRows?: number;
  /** Score at or above which the label is 1 (default 0.5). */
  readonly threshold?: number;
  readonly log?: (line: string) => void;
}

export interface RunningServer {
  readonly port: number;
  readonly metrics: ServingMetrics;
  readonly catalog: ModelCatalog;
  close(): Promise<void>;
}

/** A route's handler: the call (who is calling, route parameters) and its parsed body. */
type Handler = (call: Call, body: unknown) => void | Promise<void>;

interface RouteSpec {
  readonly name: string;
  readonly params: number;
  readonly body: boolean;
  readonly handler: Handler;
}

/**
 * `rtml serve`: HTTP and WebSocket scoring on uWebSockets.js. Every route goes through the same
 * steps — credentials for the route's scope, the caller's rate limit, then the handler — and ends
 * in exactly one answer, counted in the metrics by route, model, version and status. Scoring
 * requests queue into the Batcher, which coalesces what arrives together into one feature-store
 * round trip and one model call.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const metrics = new ServingMetrics();
  const auth: Authenticator = createAuthenticator(options.auth ?? {});
  if (!auth.enabled) log('rtml: serve: no API keys and no JWT configured: every route is open (use --api-keys or --jwt-secret/--jwks-url)');
  const limiter = new RateLimiter();
  const limits: BodyLimits = { maxBytes: options.body?.maxBytes ?? 1 << 20, timeoutMs: options.body?.timeoutMs ?? 10_000 };
  const timer = new BodyTimer(Math.min(500, limits.timeoutMs));
  const catalog = new ModelCatalog(options.models, log, options.only);
  await catalog.scan();
  const batcher = new Batcher({ online: options.online, metrics, maxRows: options.maxBatchRows ?? 512, threshold: options.threshold ?? 0.5, log });
  const topics = new Map((options.ingest ?? []).map((t) => [t.name, t]));
  const app: TemplatedApp = uWS.App();

  /** Credentials, then the rate limit; the call proceeds, or is answered with the error. */
  function admit(call: Call, scope: Scope): void {
    let principal: Principal | Promise<Principal>;
    try {
      principal = auth.authenticate(scope, call.authorization, call.apiKey);
    } catch (err) {
      call.fail(err);
      return;
    }
    if (principal instanceof Promise) principal.then((p) => limit(call, p), (err: unknown) => call.fail(err));
    else limit(call, principal);
  }

  function limit(call: Call, principal: Principal): void {
    const rate = principal.rate ?? options.rate;
    const wait = rate === undefined ? 0 : limiter.take(principal.id, rate);
    if (wait === 0) call.admitted(principal);
    else call.header('retry-after', String(retryAfterSeconds(wait))).fail(rateLimitError(principal.id, rate!, wait));
  }

  /**
   * Registers a route. A route with a body starts reading it at once (uWS delivers body chunks
   * only to a reader attached inside the handler) while credentials are checked, which may take a
   * JWKS round trip; the handler runs once both are there (see Call).
   */
  function route(method: 'get' | 'post', pattern: string, name: string, scope: Scope | null, params: number, handler: Handler): void {
    const spec: RouteSpec = { name, params, body: method === 'post', handler };
    app[method](pattern, (res: HttpResponse, req: HttpRequest) => {
      const call = new Call(res, req, spec, metrics);
      if (spec.body) readBody(call, limits, timer, call);
      if (scope === null) call.admitted(ANYONE);
      else admit(call, scope);
    });
  }

  /** The model a request names: 404 when the registry serves no such name. */
  async function servedModel(name: unknown): Promise<RegistryModelHandle> {
    if (typeof name !== 'string' || name === '') throw new RtmlError('RTML_E_HTTP_REQUEST', `"model_name" must be a non-empty string, got ${JSON.stringify(name) ?? 'nothing'}`);
    const handle = catalog.get(name) ?? (await catalog.find(name));
    if (handle === undefined) {
      const served = catalog.status().models.filter((m) => m.serving !== null).map((m) => m.name);
      throw new RtmlError('RTML_E_UNKNOWN_MODEL', `no model '${truncate(name)}' is served (serving: ${served.length === 0 ? 'none' : served.join(', ')})`);
    }
    return handle;
  }

  /** Runs `then` with the served model `name`: at once when it is loaded, else after a registry rescan (404 if still unknown). */
  function withModel(call: Call, name: unknown, then: (call: Call, handle: RegistryModelHandle) => void): void | Promise<void> {
    const handle = typeof name === 'string' ? catalog.get(name) : undefined;
    if (handle !== undefined) {
      call.model = name as string;
      then(call, handle);
      return;
    }
    return servedModel(name).then((found) => {
      call.model = name as string;
      then(call, found);
    });
  }

  /** An explicit version: loaded once, then cached by the handle; 404 when the registry has no such version. */
  async function versionOf(handle: RegistryModelHandle, name: string, text: string): Promise<RegistryModel> {
    const number = versionNumber(text);
    try {
      return await handle.version(number);
    } catch (err) {
      const versions = await options.models.registry.list(name);
      if (versions.some((v) => v.version === number)) throw err;
      throw new RtmlError('RTML_E_UNKNOWN_MODEL', `model '${name}' has no version ${number} (versions: ${versions.map((v) => v.version).join(', ')})`);
    }
  }

  const predict: Handler = (call, body) => {
    const request = asObject(body);
    return withModel(call, request.model_name, (c, handle) => batcher.submit(new HttpJob(c, 'predict', handle, null, [parseInstance(request, '')], request.return_probabilities === true, null)));
  };

  const predictBatch: Handler = (call, body) => {
    const request = asObject(body);
    return withModel(call, request.model_name, (c, handle) => {
      const { instances } = request;
      if (!Array.isArray(instances) || instances.length === 0) throw new RtmlError('RTML_E_HTTP_REQUEST', '"instances" must be a non-empty array of {"features": {…}, "entity": {…}}');
      batcher.submit(new HttpJob(c, 'batch', handle, null, instances.map((item, i) => parseInstance(item, `instances[${i}]: `)), request.return_probabilities === true, null));
    });
  };

  const infer: Handler = async (call, body) => {
    const [name, versionText] = call.params;
    const handle = await servedModel(name);
    call.model = name!;
    const pinned = versionText === undefined ? null : await versionOf(handle, name!, versionText);
    const request = inferRequest(body, pinned ?? handle.current().serving(''));
    batcher.submit(new HttpJob(call, 'infer', handle, pinned, request.instances, false, request));
  };

  async function ready(): Promise<{ ready: boolean; body: string }> {
    const status = catalog.status();
    const reasons = [...status.reasons];
    let online = 'reachable';
    try {
      await Promise.race([options.online.get('__rtml_ready__', ['ping']), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 1 s')), 1_000).unref())]);
    } catch (err) {
      online = `unreachable: ${errorMessage(err)}`;
      reasons.push(`online feature store ${options.online.description} ${online}`);
    }
    const isReady = reasons.length === 0;
    return { ready: isReady, body: JSON.stringify({ ready: isReady, reasons, models: status.models, online: { store: options.online.description, status: online } }) };
  }

  const live: Handler = (call) => call.send(200, '{"live":true}');
  route('get', '/health', 'health', null, 0, live);
  route('get', '/v2/health/live', 'health', null, 0, live);
  const readiness: Handler = async (call) => {
    const r = await ready();
    call.send(r.ready ? 200 : 503, r.body);
  };
  route('get', '/ready', 'ready', 'read', 0, readiness);
  route('get', '/v2/health/ready', 'ready', 'read', 0, readiness);
  route('get', '/metrics', 'metrics', 'metrics', 0, async (call) => call.sendText(200, metrics.contentType, await metrics.text()));
  route('post', '/predict', 'predict', 'predict', 0, predict);
  route('post', '/predict/batch', 'predict_batch', 'predict', 0, predictBatch);
  route('post', '/v2/models/:name/infer', 'infer', 'predict', 1, infer);
  route('post', '/v2/models/:name/versions/:version/infer', 'infer', 'predict', 2, infer);
  route('get', '/v2/models/:name', 'model_metadata', 'read', 1, async (call) => {
    const name = call.params[0]!;
    const handle = await servedModel(name);
    call.model = name;
    call.send(200, JSON.stringify(modelMetadata(handle.current().serving(''), await options.models.registry.list(name))));
  });
  route('get', '/v2/models/:name/versions/:version', 'model_metadata', 'read', 2, async (call) => {
    const [name, version] = call.params as [string, string];
    const handle = await servedModel(name);
    call.model = name;
    const model = await versionOf(handle, name, version);
    call.version = model.version;
    call.send(200, JSON.stringify(modelMetadata(model, await options.models.registry.list(name))));
  });
  route('get', '/v2/models/:name/ready', 'model_ready', 'read', 1, async (call) => {
    const name = call.params[0]!;
    const handle = await servedModel(name);
    call.model = name;
    call.send(200, JSON.stringify({ name, ready: true, serving: handle.current().serving('').version }));
  });
  route('post', '/events/:source', 'events', 'ingest', 1, async (call, body) => {
    const source = call.params[0]!;
    const topic = topics.get(source);
    if (topic === undefined) {
      throw new RtmlError('RTML_E_HTTP_NOT_FOUND', `no source '${truncate(source)}' takes events here (configured: ${topics.size === 0 ? 'none; start with --ingest NAME=log:…' : [...topics.keys()].join(', ')})`);
    }
    call.model = source;
    const events = Array.isArray(body) ? body : [body];
    if (events.length === 0) throw new RtmlError('RTML_E_HTTP_REQUEST', 'no events: send one JSON event or a non-empty array of them');
    const result = await topic.append(events);
    metrics.ingested.labels(source, 'accepted').inc(result.accepted);
    metrics.ingested.labels(source, 'rejected').inc(result.rejected);
    if (result.accepted > 0) call.send(202, JSON.stringify(result));
    else call.send(422, JSON.stringify({ error: `every event was rejected; first: ${result.errors[0]!.reason}`, code: 'RTML_E_EVENT', ...result }));
  });

  openSocketRoute(app, '/ws', {
    limits: options.socket,
    metrics,
    authenticate: (authorization, apiKey) => auth.authenticate('predict', authorization, apiKey),
    admit: (principal) => {
      const limit = principal.rate ?? options.rate;
      const wait = limit === undefined ? 0 : limiter.take(principal.id, limit);
      return wait === 0 ? undefined : rateLimitError(principal.id, limit!, wait);
    },
    predict: (request, reply) => {
      const started = performance.now();
      const handle = typeof request.model_name === 'string' ? catalog.get(request.model_name) : undefined;
      if (handle !== undefined) batcher.submit(new SocketJob(reply, handle, request, started));
      else return servedModel(request.model_name).then((found) => batcher.submit(new SocketJob(reply, found, request, started)));
    },
  });

  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const exchange = new Exchange(res, req, 0, 'unmatched', metrics);
    const known = KNOWN.find((k) => k.pattern.test(exchange.url));
    if (known) exchange.header('allow', known.allow).fail(new RtmlError('RTML_E_HTTP_METHOD', `${exchange.method.toUpperCase()} is not allowed on ${truncate(exchange.url)}: use ${known.allow}`));
    else exchange.fail(new RtmlError('RTML_E_HTTP_NOT_FOUND', `no route ${exchange.method.toUpperCase()} ${truncate(exchange.url)}`));
  });

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
    app.listen(options.host, options.port, (socket) => (socket ? resolve(socket) : reject(new RtmlError('RTML_E_USAGE', `cannot listen on ${options.host}:${options.port} (in use, or not an address of this machine)`)))),
  );
  const port = uWS.us_socket_local_port(listenSocket);
  return {
    port,
    metrics,
    catalog,
    async close() {
      uWS.us_listen_socket_close(listenSocket);
      timer.close();
      auth.close();
      for (const topic of topics.values()) topic.close();
      await catalog.close();
      await options.online.close();
    },
  };
}

const ANYONE: Principal = { id: 'anonymous', scopes: new Set() };

/**
 * One request on one route: the exchange, who is calling and the body text. Credentials and the
 * body arrive in either order (a JWT may need a JWKS round trip while the body streams in); the
 * handler runs once both are there, with the body parsed (400 if it is not JSON).
 */
class Call extends Exchange implements BodyReceiver {
  private principal: Principal | undefined;
  private text: string | undefined;

  constructor(
    res: HttpResponse,
    req: HttpRequest,
    private readonly spec: RouteSpec,
    metrics: ServingMetrics,
  ) {
    super(res, req, spec.params, spec.name, metrics);
  }

  admitted(principal: Principal): void {
    this.principal = principal;
    this.proceed();
  }

  received(text: string): void {
    this.text = text;
    this.proceed();
  }

  private proceed(): void {
    if (this.principal === undefined || (this.spec.body && this.text === undefined) || this.ended) return;
    try {
      const pending = this.spec.handler(this, this.spec.body ? parseJson(this.text!) : undefined);
      if (pending instanceof Promise) pending.catch((err: unknown) => this.fail(err));
    } catch (err) {
      this.fail(err);
    }
  }
}

/** The rows of one HTTP scoring request, answered in the shape of its route. */
class HttpJob implements Job {
  constructor(
    private readonly call: Call,
    private readonly kind: 'predict' | 'batch' | 'infer',
    readonly handle: RegistryModelHandle,
    readonly pinned: RegistryModel | null,
    readonly instances: readonly Instance[],
    private readonly probabilities: boolean,
    private readonly infer: InferRequest | null,
  ) {}

  where(index: number): string {
    return this.kind === 'batch' ? `instances[${index}]: ` : this.kind === 'infer' ? `row ${index}: ` : '';
  }

  done(predictions: Prediction[]): void {
    const first = predictions[0]!.version;
    this.call.version = predictions.every((p) => p.version === first) ? first : 'mixed';
    if (this.kind === 'predict') this.call.send(200, JSON.stringify(predictionFields(predictions[0]!, this.probabilities, this.call.started)));
    else if (this.kind === 'infer') this.call.send(200, inferResponse(this.call.model, this.infer!, predictions));
    else {
      const rows = predictions.map((p) => (this.probabilities ? { score: p.score, label: p.label, version: p.version, probabilities: [1 - p.score, p.score] } : { score: p.score, label: p.label, version: p.version }));
      this.call.send(200, JSON.stringify({ model: this.call.model, predictions: rows, latency_ms: elapsed(this.call.started) }));
    }
  }

  fail(err: RtmlError): void {
    this.call.fail(err);
  }
}

/** One WebSocket message's row. */
class SocketJob implements Job {
  readonly pinned = null;
  readonly instances: readonly Instance[];
  private readonly probabilities: boolean;

  constructor(
    private readonly reply: SocketReply,
    readonly handle: RegistryModelHandle,
    request: Record<string, unknown>,
    private readonly started: number,
  ) {
    this.instances = [parseInstance(request, '')];
    this.probabilities = request.return_probabilities === true;
  }

  where(): string {
    return '';
  }

  done(predictions: Prediction[]): void {
    this.reply.answer(predictionFields(predictions[0]!, this.probabilities, this.started));
  }

  fail(err: RtmlError): void {
    this.reply.answer(err);
  }
}

/** Route paths with their methods, for 405 answers. */
const KNOWN = [
  { pattern: /^\/(health|ready|metrics|v2\/health\/(live|ready))$/, allow: 'GET' },
  { pattern: /^\/predict(\/batch)?$/, allow: 'POST' },
  { pattern: /^\/events\/[^/]+$/, allow: 'POST' },
  { pattern: /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer$/, allow: 'POST' },
  { pattern: /^\/v2\/models\/[^/]+(\/versions\/[^/]+|\/ready)?$/, allow: 'GET' },
];

function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RtmlError('RTML_E_HTTP_REQUEST', 'expected a JSON object');
  return body as Record<string, unknown>;
}

function versionNumber(text: string): number {
  const n = /^v?(\d{1,9})$/.exec(text);
  if (n === null) throw new RtmlError('RTML_E_UNKNOWN_MODEL', `no version '${truncate(text)}': versions are numbers (1, 2, …)`);
  return Number(n[1]);
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

function predictionFields(p: Prediction, probabilities: boolean, started: number): Record<string, unknown> {
  return probabilities
    ? { model: p.model, version: p.version, score: p.score, label: p.label, probabilities: [1 - p.score, p.score], latency_ms: elapsed(started) }
    : { model: p.model, version: p.version, score: p.score, label: p.label, latency_ms: elapsed(started) };
}

/** Client-supplied text in messages, cut short. */
function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
