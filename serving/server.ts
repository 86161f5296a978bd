import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp } from 'uWebSockets.js';
import { RtmlError, errorMessage } from '../engine/errors.ts';
import type { OnlineStore } from '../connectors/features/stores.ts';
import type { RegistryModel, RegistryModelHandle, RegistryModelProvider } from '../models/registry/provider.ts';
import type { Scope } from './apiKeys.ts';
import { createAuthenticator, type AuthOptions, type Authenticator, type Principal } from './auth.ts';
import { Batcher, type Prediction } from './batcher.ts';
import { ModelCatalog } from './catalog.ts';
import { BodyTimer, Exchange, parseJson, readBody, type BodyLimits } from './http.ts';
import type { IngestTopic } from './ingest.ts';
import { parseInstance, type Instance } from './instances.ts';
import { ServingMetrics } from './metrics.ts';
import { inferRequest, inferResponse, modelMetadata } from './oip.ts';
import { RateLimiter, rateLimitError, retryAfterSeconds, type RateLimit } from './rateLimit.ts';
import { openSocketRoute, type SocketLimits } from './socket.ts';

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

/** What a route handler gets: the exchange and who is calling. */
type Handler = (exchange: Exchange, principal: Principal, body: unknown) => void | Promise<void>;

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

  /** Credentials, then the rate limit: the principal, or an error already answered. */
  function admit(exchange: Exchange, scope: Scope, then: (principal: Principal) => void): void {
    let principal: Principal | Promise<Principal>;
    try {
      principal = auth.authenticate(scope, exchange.authorization, exchange.apiKey);
    } catch (err) {
      exchange.fail(err);
      return;
    }
    const limited = (p: Principal) => {
      const limit = p.rate ?? options.rate;
      const wait = limit === undefined ? 0 : limiter.take(p.id, limit);
      if (wait === 0) then(p);
      else exchange.header('retry-after', String(retryAfterSeconds(wait))).fail(rateLimitError(p.id, limit!, wait));
    };
    if (principal instanceof Promise) principal.then(limited, (err: unknown) => exchange.fail(err));
    else limited(principal);
  }

  /**
   * Registers a route. A route with a body starts reading it at once (uWS delivers body chunks
   * only to a reader attached inside the handler) while credentials are checked, which may take a
   * JWKS round trip; the handler runs once both are there, with the body parsed (400 if not JSON).
   */
  function route(method: 'get' | 'post', pattern: string, name: string, scope: Scope | null, params: number, handler: Handler): void {
    const hasBody = method === 'post';
    app[method](pattern, (res: HttpResponse, req: HttpRequest) => {
      const exchange = new Exchange(res, req, params);
      metrics.inFlight.inc();
      exchange.whenDone((ex) => {
        metrics.inFlight.dec();
        metrics.request(name, ex.model, ex.version, ex.aborted ? 499 : ex.status, (performance.now() - ex.started) / 1000);
      });
      let principal: Principal | undefined;
      let text: string | undefined;
      const run = () => {
        if (principal === undefined || (hasBody && text === undefined) || exchange.ended) return;
        try {
          const pending = handler(exchange, principal, hasBody ? parseJson(text!) : undefined);
          if (pending instanceof Promise) pending.catch((err: unknown) => exchange.fail(err));
        } catch (err) {
          exchange.fail(err);
        }
      };
      if (hasBody) {
        readBody(exchange, limits, timer, (body) => {
          text = body;
          run();
        });
      }
      const admitted = (p: Principal) => {
        principal = p;
        run();
      };
      if (scope === null) admitted(ANYONE);
      else admit(exchange, scope, admitted);
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

  async function modelFor(exchange: Exchange, name: unknown): Promise<RegistryModelHandle> {
    const handle = await servedModel(name);
    exchange.model = name as string;
    return handle;
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

  function labelVersion(exchange: Exchange, predictions: readonly Prediction[]): void {
    const first = predictions[0]?.version ?? '';
    exchange.version = predictions.every((p) => p.version === first) ? first : 'mixed';
  }

  const predictBody: Handler = async (exchange, _principal, body) => {
    const request = asObject(body);
    const handle = await modelFor(exchange, request.model_name);
    const instance = parseInstance(request, '');
    const probabilities = request.return_probabilities === true;
    batcher.submit({
      handle,
      pinned: null,
      instances: [instance],
      where: () => '',
      done: ([p]) => {
        labelVersion(exchange, [p!]);
        exchange.send(200, predictionJson(p!, probabilities, exchange.started));
      },
      fail: (err) => exchange.fail(err),
    });
  };

  const batchBody: Handler = async (exchange, _principal, body) => {
    const request = asObject(body);
    const handle = await modelFor(exchange, request.model_name);
    const { instances } = request;
    if (!Array.isArray(instances) || instances.length === 0) throw new RtmlError('RTML_E_HTTP_REQUEST', '"instances" must be a non-empty array of {"features": {…}, "entity": {…}}');
    const parsed: Instance[] = instances.map((item, i) => parseInstance(item, `instances[${i}]: `));
    const probabilities = request.return_probabilities === true;
    batcher.submit({
      handle,
      pinned: null,
      instances: parsed,
      where: (i) => `instances[${i}]: `,
      done: (predictions) => {
        labelVersion(exchange, predictions);
        const rows = predictions.map((p) => (probabilities ? { score: p.score, label: p.label, version: p.version, probabilities: [1 - p.score, p.score] } : { score: p.score, label: p.label, version: p.version }));
        exchange.send(200, JSON.stringify({ model: handle.current().routing.name, predictions: rows, latency_ms: elapsed(exchange.started) }));
      },
      fail: (err) => exchange.fail(err),
    });
  };

  const inferBody: Handler = async (exchange, _principal, body) => {
    const [name, versionText] = exchange.params;
    const handle = await modelFor(exchange, name);
    const pinned = versionText === undefined ? null : await versionOf(handle, name!, versionText);
    const request = inferRequest(body, pinned ?? handle.current().serving(''));
    batcher.submit({
      handle,
      pinned,
      instances: request.instances,
      where: (i) => `row ${i}: `,
      done: (predictions) => {
        labelVersion(exchange, predictions);
        exchange.send(200, inferResponse(name!, request, predictions));
      },
      fail: (err) => exchange.fail(err),
    });
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

  const live: Handler = (exchange) => exchange.send(200, '{"live":true}');
  route('get', '/health', 'health', null, 0, live);
  route('get', '/v2/health/live', 'health', null, 0, live);
  const readiness: Handler = async (exchange) => {
    const r = await ready();
    exchange.send(r.ready ? 200 : 503, r.body);
  };
  route('get', '/ready', 'ready', 'read', 0, readiness);
  route('get', '/v2/health/ready', 'ready', 'read', 0, readiness);
  route('get', '/metrics', 'metrics', 'metrics', 0, async (exchange) => exchange.sendText(200, metrics.contentType, await metrics.text()));
  route('post', '/predict', 'predict', 'predict', 0, predictBody);
  route('post', '/predict/batch', 'predict_batch', 'predict', 0, batchBody);
  route('post', '/v2/models/:name/infer', 'infer', 'predict', 1, inferBody);
  route('post', '/v2/models/:name/versions/:version/infer', 'infer', 'predict', 2, inferBody);
  route('get', '/v2/models/:name', 'model_metadata', 'read', 1, async (exchange) => {
    const handle = await modelFor(exchange, exchange.params[0]);
    exchange.send(200, JSON.stringify(modelMetadata(handle.current().serving(''), await options.models.registry.list(exchange.params[0]))));
  });
  route('get', '/v2/models/:name/versions/:version', 'model_metadata', 'read', 2, async (exchange) => {
    const handle = await modelFor(exchange, exchange.params[0]);
    const model = await versionOf(handle, exchange.params[0]!, exchange.params[1]!);
    exchange.version = model.version;
    exchange.send(200, JSON.stringify(modelMetadata(model, await options.models.registry.list(exchange.params[0]))));
  });
  route('get', '/v2/models/:name/ready', 'model_ready', 'read', 1, async (exchange) => {
    const handle = await modelFor(exchange, exchange.params[0]);
    exchange.send(200, JSON.stringify({ name: exchange.params[0], ready: true, serving: handle.current().serving('').version }));
  });
  route('post', '/events/:source', 'events', 'ingest', 1, async (exchange, _principal, body) => {
    const source = exchange.params[0]!;
    const topic = topics.get(source);
    if (topic === undefined) {
      throw new RtmlError('RTML_E_HTTP_NOT_FOUND', `no source '${truncate(source)}' takes events here (configured: ${topics.size === 0 ? 'none; start with --ingest NAME=log:…' : [...topics.keys()].join(', ')})`);
    }
    exchange.model = source;
    const events = Array.isArray(body) ? body : [body];
    if (events.length === 0) throw new RtmlError('RTML_E_HTTP_REQUEST', 'no events: send one JSON event or a non-empty array of them');
    const result = await topic.append(events);
    metrics.ingested.labels(source, 'accepted').inc(result.accepted);
    metrics.ingested.labels(source, 'rejected').inc(result.rejected);
    if (result.accepted > 0) exchange.send(202, JSON.stringify(result));
    else exchange.send(422, JSON.stringify({ error: `every event was rejected; first: ${result.errors[0]!.reason}`, code: 'RTML_E_EVENT', ...result }));
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
    predict: async (request, answer) => {
      const handle = await servedModel(request.model_name);
      const probabilities = request.return_probabilities === true;
      const started = performance.now();
      batcher.submit({
        handle,
        pinned: null,
        instances: [parseInstance(request, '')],
        where: () => '',
        done: ([p]) => answer(predictionFields(p!, probabilities, started)),
        fail: (err) => answer(err),
      });
    },
  });

  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const exchange = new Exchange(res, req, 0);
    exchange.whenDone((ex) => metrics.request('unmatched', '', '', ex.status, (performance.now() - ex.started) / 1000));
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

function predictionJson(p: Prediction, probabilities: boolean, started: number): string {
  return JSON.stringify(predictionFields(p, probabilities, started));
}

/** Client-supplied text in messages, cut short. */
function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
