import type { Static, TSchema } from '@sinclair/typebox';
import type { OnlineStore } from '../../connectors/features/stores.ts';
import type { Scope } from '../apiKeys.ts';
import type { Batcher } from '../batcher.ts';
import type { Call } from '../call.ts';
import type { ModelCatalog } from '../catalog.ts';
import type { PredictionFeed } from '../dashboard/feed.ts';
import type { IngestTopic } from '../ingest.ts';
import type { ServingMetrics } from '../metrics.ts';
import type { SocketReply } from '../socket.ts';
import type { BodyValidator } from '../validation.ts';

/**
 * An HTTP route as data: the server registers it (credentials for `scope`, rate limit, body read
 * and validated against `body`, metrics under `name`, exactly one answer), and the OpenAPI
 * document and the docs page are rendered from the same values.
 */
export interface Route<S extends TSchema = TSchema> {
  readonly method: 'get' | 'post';
  /** OpenAPI form, parameters in braces: `/v2/models/{name}/infer`. */
  readonly path: string;
  /** The `route` label of the request metrics (a pair of routes may share one). */
  readonly name: string;
  /** What a credential needs to call it; null: open to anyone (no credentials, no rate limit). */
  readonly scope: Scope | null;
  readonly summary: string;
  /** What each path parameter is, by name. */
  readonly params?: Readonly<Record<string, string>>;
  /** The JSON body's schema; routes without one read no body. */
  readonly body?: S;
  /** The answers of the route itself, by status; the errors every route can give are added by the docs. */
  readonly responses: Readonly<Record<number, string>>;
  /** Answers the call exactly once (send, fail, or throw/reject: answered as the error). */
  handle(call: Call, body: Static<S>, context: RouteContext): void | Promise<void>;
}

/**
 * A WebSocket route as data: the upgrade needs `scope`, each message is validated against
 * `message` (with its `id`) and answered through its reply, many in flight (see socket.ts).
 */
export interface MessageRoute<S extends TSchema = TSchema> {
  readonly path: string;
  readonly name: string;
  readonly scope: Scope;
  readonly summary: string;
  readonly message: S;
  /** What a message is answered with. */
  readonly answer: string;
  /** Answers the message exactly once through `reply` (or throws/rejects: answered as the error). */
  handle(message: Static<S>, reply: SocketReply, context: RouteContext): void | Promise<void>;
}

/**
 * A WebSocket route that only sends: the upgrade needs `scope`, then the connection receives what
 * its feed publishes (dropped for a client that does not keep up, see feedSocket.ts); a message from
 * the client closes it.
 */
export interface FeedRoute {
  readonly path: string;
  readonly name: string;
  readonly scope: Scope;
  readonly summary: string;
  /** What each message sent is. */
  readonly sends: string;
  feed(context: RouteContext): PredictionFeed;
}

export type WebSocketRoute = MessageRoute | FeedRoute;

/** What the handlers serve from, built once by startServer. */
export interface RouteContext {
  readonly catalog: ModelCatalog;
  readonly batcher: Batcher;
  readonly metrics: ServingMetrics;
  readonly online: OnlineStore;
  readonly topics: ReadonlyMap<string, IngestTopic>;
  /** The dashboard's predictions feed, which the batcher offers samples to. */
  readonly predictions: PredictionFeed;
  /** The API's documents, rendered once from the route table. */
  readonly documents: { readonly openapi: string; readonly html: string };
}

/** A route as registered by one server: its context and its validator, compiled once. */
export interface BoundRoute {
  readonly route: Route;
  /** Number of path parameters. */
  readonly params: number;
  readonly validate: BodyValidator<TSchema> | null;
  readonly context: RouteContext;
}

/** The parameter names of an OpenAPI path, in order. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
}

/** The path as uWebSockets.js patterns write it: `/v2/models/:name/infer`. */
export function uwsPattern(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

/** A regular expression matching the request URLs of `path` (for 405 answers). */
export function pathPattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}$`);
}

/** Every answer a route can give, by status: its own and those of the steps the server adds (body, credentials, limits). */
export function responsesOf(route: Route): [number, string][] {
  const all = new Map<number, string>(Object.entries(route.responses).map(([status, text]) => [Number(status), text]));
  const add = (status: number, text: string) => all.has(status) || all.set(status, text);
  if (route.body !== undefined) {
    add(400, 'the body is not JSON or does not match its schema; the message names the field');
    add(408, 'the body did not arrive in time');
    add(413, 'the body is over the size limit');
  }
  if (route.scope !== null) {
    add(401, 'no credentials, or invalid ones');
    add(403, `the credentials lack the scope \`${route.scope}\``);
    add(429, 'rate limit exceeded; `Retry-After` says when to retry');
  }
  add(500, 'internal error');
  return [...all].sort((a, b) => a[0] - b[0]);
}
