import { readFileSync } from 'node:fs';
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp } from 'uWebSockets.js';
import { errorMessage, RtmlError } from '../engine/errors.ts';
import type { OnlineStore } from '../connectors/features/stores.ts';
import { modelLoadMetrics, type RegistryModelProvider } from '../models/registry/index.ts';
import { Admission } from './admission.ts';
import { apiHtml } from './apiDocs.ts';
import { AuditLog } from './auditLog.ts';
import { createAuthenticator, type AuthOptions } from './auth.ts';
import { Batcher } from './batcher.ts';
import { Call } from './call.ts';
import { ModelCatalog } from './catalog.ts';
import { PredictionFeed } from './dashboard/feed.ts';
import { BodyTimer, Exchange, readBody, truncate, type BodyLimits } from './http.ts';
import type { IngestTopic } from './ingest.ts';
import { ServingMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import type { RateLimit } from './rateLimit.ts';
import { ROUTES, SOCKET_ROUTES, type BoundRoute, type Route, type RouteContext } from './routes/index.ts';
import { pathParams, pathPattern, uwsPattern } from './routes/route.ts';
import { openSocketRoute, type SocketLimits } from './socket.ts';
import { bodyValidator } from './validation.ts';
import { logLine } from '../engine/log.ts';

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
  /** Serve HTTPS and WSS with this PEM certificate (chain) and private key, instead of plain HTTP. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly passphrase?: string };
  /** How long close() waits for requests in flight (default 10 s). */
  readonly drainMs?: number;
  /** Write who used which credential (and every refused one) to this JSON-lines file (see AuditLog). */
  readonly auditLog?: string;
  readonly log?: (line: string) => void;
}

export interface RunningServer {
  readonly port: number;
  readonly metrics: ServingMetrics;
  readonly catalog: ModelCatalog;
  /**
   * Stops listening and drains (see drainMs). Idle keep-alive connections are not closed:
   * uWebSockets.js 20.30 has no handle on them, so `rtml serve` exits its process once closed.
   */
  close(): Promise<void>;
}

/**
 * `rtml serve`: HTTP and WebSocket scoring on uWebSockets.js. The routes are data (serving/routes):
 * each goes through the same steps — credentials for its scope, the caller's rate limit, the body
 * read and validated against its schema — then its handler, and ends in exactly one answer,
 * counted in the metrics by route, model, version and status. Scoring requests queue into the
 * Batcher, which coalesces what arrives together into one feature-store round trip and one model call.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const log = options.log ?? ((line: string) => logLine(line));
  const metrics = new ServingMetrics();
  modelLoadMetrics(metrics.registry, options.models);
  const auth = createAuthenticator(options.auth ?? {});
  if (!auth.enabled) log('rtml: serve: no API keys and no JWT configured: every route is open (use --api-keys or --jwt-secret/--jwks-url)');
  const audit = options.auditLog === undefined ? undefined : new AuditLog(options.auditLog);
  const admission = new Admission(auth, options.rate, audit);
  const limits: BodyLimits = { maxBytes: options.body?.maxBytes ?? 1 << 20, timeoutMs: options.body?.timeoutMs ?? 10_000 };
  const timer = new BodyTimer(Math.min(500, limits.timeoutMs));
  const catalog = new ModelCatalog(options.models, log, options.only);
  await catalog.scan();
  const topics = new Map((options.ingest ?? []).map((t) => [t.name, t]));
  const predictions = new PredictionFeed(metrics.registry);
  const context: RouteContext = {
    catalog,
    batcher: new Batcher({ online: options.online, metrics, maxRows: options.maxBatchRows ?? 512, threshold: options.threshold ?? 0.5, log, predictions }),
    metrics,
    online: options.online,
    topics,
    predictions,
    documents: { openapi: JSON.stringify(openApiDocument(ROUTES, SOCKET_ROUTES)), html: apiHtml(ROUTES, SOCKET_ROUTES) },
  };
  const app: TemplatedApp = options.tls === undefined ? uWS.App() : tlsApp(options.tls);

  // A route with a body starts reading it at once (uWS delivers body chunks only to a reader
  // attached inside the handler) while credentials are checked, which may take a JWKS round
  // trip; the handler runs once both are there (see Call).
  for (const route of ROUTES) {
    const bound: BoundRoute = { route, params: pathParams(route.path).length, validate: route.body === undefined ? null : bodyValidator(route.body), context };
    app[route.method](uwsPattern(route.path), (res: HttpResponse, req: HttpRequest) => {
      const call = new Call(res, req, bound, metrics);
      if (bound.validate !== null) readBody(call, limits, timer, call);
      call.admit(admission);
    });
  }
  const sockets = SOCKET_ROUTES.map((socket) => openSocketRoute(app, socket, { limits: options.socket, metrics, admission, context }));

  const allowed = allowedMethods(ROUTES);
  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const exchange = new Exchange(res, req, 0, 'unmatched', metrics);
    const allow = allowed.find((a) => a.pattern.test(exchange.url))?.allow;
    if (allow !== undefined) exchange.header('allow', allow).fail(new RtmlError('RTML_E_HTTP_METHOD', `${exchange.method.toUpperCase()} is not allowed on ${truncate(exchange.url)}: use ${allow}`));
    else exchange.fail(new RtmlError('RTML_E_HTTP_NOT_FOUND', `no route ${exchange.method.toUpperCase()} ${truncate(exchange.url)}`));
  });

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
    app.listen(options.host, options.port, (socket) => (socket ? resolve(socket) : reject(new RtmlError('RTML_E_USAGE', `cannot listen on ${options.host}:${options.port} (in use, or not an address of this machine)`)))),
  );
  const port = uWS.us_socket_local_port(listenSocket);
  let closing: Promise<void> | undefined;
  return {
    port,
    metrics,
    catalog,
    close() {
      // Graceful: no new connections; WebSocket clients are told to go away (1001); requests in
      // flight are answered, each closing its connection, for up to drainMs. Once, however often called.
      closing ??= (async () => {
        uWS.us_listen_socket_close(listenSocket);
        for (const socket of sockets) socket.closeAll();
        const drainMs = options.drainMs ?? 10_000;
        if (!(await metrics.traffic.drain(drainMs))) log(`rtml: serve: ${metrics.traffic.inFlight} request(s) still in flight after ${drainMs} ms: closing anyway`);
        timer.close();
        auth.close();
        audit?.close();
        for (const topic of topics.values()) topic.close();
        await catalog.close();
        await options.online.close();
      })();
      return closing;
    },
  };
}

/** Each route path with the methods it takes, for 405 answers to the others. */
function allowedMethods(routes: readonly Route[]): { pattern: RegExp; allow: string }[] {
  const methods = new Map<string, Set<string>>();
  for (const route of routes) {
    let set = methods.get(route.path);
    if (set === undefined) methods.set(route.path, (set = new Set()));
    set.add(route.method.toUpperCase());
  }
  return [...methods].map(([path, set]) => ({ pattern: pathPattern(path), allow: [...set].join(', ') }));
}

/** An HTTPS/WSS app; the files are read here so that a bad path or key is one clear error at start (uWS only logs it). */
function tlsApp(tls: NonNullable<ServeOptions['tls']>): TemplatedApp {
  for (const [flag, file] of [['--tls-cert', tls.certFile], ['--tls-key', tls.keyFile]] as const) {
    try {
      if (!readFileSync(file, 'utf8').includes('-----BEGIN ')) throw new Error('not a PEM file');
    } catch (err) {
      throw new RtmlError('RTML_E_USAGE', `${flag} ${file}: ${errorMessage(err)}`);
    }
  }
  return uWS.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile, passphrase: tls.passphrase });
}
