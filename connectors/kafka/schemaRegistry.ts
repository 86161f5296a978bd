import avro, { type Type } from 'avsc';
import { schemaDefinition } from '../../engine/avro.ts';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import { retryWithBackoff } from '../../storage/index.ts';
import { seconds } from './client.ts';
import { wireSchemaId, type WriterSchemas } from './wireFormat.ts';
import { logLine } from '../../engine/log.ts';

/**
 * A client for the Confluent Schema Registry REST API (`--schema-registry URL`): the subset the
 * Kafka connector needs — registering a sink's schema and looking up the writer schemas of the ids
 * in consumed messages. Schema ids are immutable in a registry, so both directions are cached for
 * the life of the client.
 */

export const REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface SchemaRegistryOptions {
  /** How long connection errors, 5xx and 429 answers are retried before giving up (default 30 s). */
  retryForMs?: number;
  /** Where retry messages go (default stderr). */
  log?: (message: string) => void;
}

const DEFAULT_RETRY_FOR_MS = 30_000;
const FIRST_RETRY_DELAY_MS = 250;
const MAX_RETRY_DELAY_MS = 5000;
/** One request may take this long before it counts as a connection failure (and is retried). */
const REQUEST_TIMEOUT_MS = 10_000;

/** The subject a topic's value schemas live under (Confluent's default TopicNameStrategy). */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

/** A parsed `--schema-registry` URL: where requests go, how to name it in messages, and its credentials. */
export interface RegistryUrl {
  /** The base URL without credentials and without a trailing slash. */
  base: string;
  /** Basic auth header value from the URL's user:password, if any. */
  authorization: string | undefined;
}

export function parseRegistryUrl(text: string, flag = '--schema-registry'): RegistryUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RtmlError('RTML_E_USAGE', `${flag} ${JSON.stringify(text)}: not a URL (expected http(s)://[user:password@]host:port)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RtmlError('RTML_E_USAGE', `${flag} ${JSON.stringify(text)}: use an http:// or https:// URL`);
  }
  if (url.search !== '' || url.hash !== '') throw new RtmlError('RTML_E_USAGE', `${flag}: the URL takes no ?query or #fragment`);
  const authorization =
    url.username === '' && url.password === ''
      ? undefined
      : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  // fetch refuses URLs with credentials, and messages must not show the password.
  url.username = '';
  url.password = '';
  return { base: url.href.replace(/\/+$/, ''), authorization };
}

/** A writer schema by id, or why the registry has none usable (the record becomes a dead letter). */
export type SchemaLookup = { type: Type; error?: undefined } | { type?: undefined; error: string };

interface Answer {
  status: number;
  body: unknown;
}

export class SchemaRegistry {
  /** The registry's URL without credentials, for messages. */
  readonly url: string;
  private readonly authorization: string | undefined;
  private readonly retryForMs: number;
  private readonly log: (message: string) => void;
  private readonly types = new Map<number, Type>();
  /** In-flight lookups, so a batch with many records of one new id asks once. */
  private readonly lookups = new Map<number, Promise<SchemaLookup>>();
  private readonly ids = new Map<string, Promise<number>>();

  constructor(url: string, options: SchemaRegistryOptions = {}) {
    const parsed = parseRegistryUrl(url);
    this.url = parsed.base;
    this.authorization = parsed.authorization;
    this.retryForMs = options.retryForMs ?? DEFAULT_RETRY_FOR_MS;
    this.log = options.log ?? ((m) => logLine(m, 'warn'));
  }

  /** The writer schema of `id` if it has been looked up already. */
  cached(id: number): Type | undefined {
    return this.types.get(id);
  }

  /**
   * Registers `type` under `subject` (or finds it registered) and returns its global id. Throws an
   * RtmlError with the registry's error_code and message when it refuses (e.g. 409: incompatible
   * with the subject's earlier versions).
   */
  register(subject: string, type: Type): Promise<number> {
    // Registered with its defaults and docs: the registry's compatibility checks need the defaults.
    const schema = JSON.stringify(schemaDefinition(type));
    const key = `${subject}\u0000${schema}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.registerUncached(subject, schema);
      this.ids.set(key, id);
      id.catch(() => this.ids.delete(key));
    }
    return id;
  }

  private async registerUncached(subject: string, schema: string): Promise<number> {
    const what = `registering a schema under subject ${subject}`;
    const answer = await this.request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, what, JSON.stringify({ schema }));
    const id = (answer.body as { id?: unknown } | null)?.id;
    if (answer.status !== 200 || typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      const code = answer.status === 409 || answer.status === 422 ? 'RTML_E_SCHEMA' : 'RTML_E_BINDING';
      throw new RtmlError(code, `schema registry ${this.url}: ${what} failed: ${describeAnswer(answer)}`);
    }
    return id;
  }

  /**
   * The writer schema with global id `id`. An id the registry does not know (404, error_code
   * 40403), a non-Avro schema or one avsc cannot parse is an `error` (a dead letter, not a failed
   * run); an unreachable registry or one refusing the request otherwise throws.
   */
  lookup(id: number): Promise<SchemaLookup> {
    const type = this.types.get(id);
    if (type !== undefined) return Promise.resolve({ type });
    let pending = this.lookups.get(id);
    if (pending === undefined) {
      pending = this.lookupUncached(id).finally(() => this.lookups.delete(id));
      this.lookups.set(id, pending);
    }
    return pending;
  }

  private async lookupUncached(id: number): Promise<SchemaLookup> {
    const what = `looking up schema id ${id}`;
    const answer = await this.request('GET', `/schemas/ids/${id}`, what);
    const body = answer.body as { schema?: unknown; schemaType?: unknown; error_code?: unknown } | null;
    // Only the registry's own "schema not found" is a property of the record; any other 404 (a
    // wrong path in the URL) would dead-letter every record, so it fails the run instead.
    if (answer.status === 404 && body?.error_code === 40403) return { error: `schema id ${id} is not in schema registry ${this.url} (${describeAnswer(answer)})` };
    if (answer.status !== 200 || typeof body?.schema !== 'string') {
      throw new RtmlError('RTML_E_BINDING', `schema registry ${this.url}: ${what} failed: ${describeAnswer(answer)}`);
    }
    if (body.schemaType !== undefined && body.schemaType !== 'AVRO') return { error: `schema id ${id} in schema registry ${this.url} is a ${String(body.schemaType)} schema, not Avro` };
    let type: Type;
    try {
      type = avro.Type.forSchema(JSON.parse(body.schema) as avro.Schema);
    } catch (err) {
      return { error: `schema id ${id} in schema registry ${this.url} is not an Avro schema rtml can read: ${errorMessage(err)}` };
    }
    this.types.set(id, type);
    return { type };
  }

  /**
   * One REST call; connection failures, timeouts, 5xx and 429 are retried with doubling delays for
   * `retryForMs` (each retry logged), then an RtmlError. Other answers are returned as they are.
   */
  private async request(method: 'GET' | 'POST', path: string, what: string, body?: string): Promise<Answer> {
    const headers: Record<string, string> = { accept: REGISTRY_CONTENT_TYPE };
    if (body !== undefined) headers['content-type'] = REGISTRY_CONTENT_TYPE;
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    return retryWithBackoff(
      async () => {
        const res = await fetch(`${this.url}${path}`, { method, headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const text = await res.text();
        const answer: Answer = { status: res.status, body: parseJson(text) };
        if (res.status >= 500 || res.status === 429) throw new UnavailableAnswer(describeAnswer(answer));
        return answer;
      },
      {
        initialMs: FIRST_RETRY_DELAY_MS,
        maxMs: MAX_RETRY_DELAY_MS,
        giveUpAfterMs: this.retryForMs,
        retryable: (err) => (err instanceof UnavailableAnswer ? err.message : connectionError(err)),
        onRetry: ({ reason, delayMs }) => this.log(`rtml: schema registry ${this.url} unavailable while ${what} (${reason}); retrying in ${seconds(delayMs)}`),
        onRecovered: (failures) => this.log(`rtml: schema registry ${this.url} answered again after ${failures} retr${failures === 1 ? 'y' : 'ies'}`),
        giveUp: ({ reason, failures }) => new RtmlError('RTML_E_BINDING', `schema registry ${this.url}: ${what} failed ${failures} time(s) over ${seconds(this.retryForMs)} (last: ${reason}); giving up`),
      },
    );
  }
}

/** An answer worth asking again for (5xx, 429): the registry is there but cannot answer now. */
class UnavailableAnswer extends Error {}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `HTTP 409, error_code 409: Schema being registered is incompatible…` from a registry answer. */
function describeAnswer(answer: Answer): string {
  const body = answer.body as { error_code?: unknown; message?: unknown } | string | null;
  if (body !== null && typeof body === 'object' && (body.error_code !== undefined || body.message !== undefined)) {
    return `HTTP ${answer.status}, error_code ${String(body.error_code)}: ${String(body.message)}`;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return `HTTP ${answer.status}${text ? `: ${text.length > 200 ? `${text.slice(0, 197)}...` : text}` : ''}`;
}

/** fetch's "fetch failed" hides the reason (ECONNREFUSED…) in its cause. */
function connectionError(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  return errorMessage(cause instanceof Error ? cause : err);
}

/**
 * The writer schemas of a source reading with a registry: ids are the registry's. A fetched batch's
 * new ids are looked up (`prepare`) before its records are decoded, since decoding is synchronous.
 */
export class RegistryWriterSchemas implements WriterSchemas {
  /** Why the ids of the current batch the registry could not give a schema for are unusable. */
  private readonly missing = new Map<number, string>();
  private readonly resolvers = new WeakMap<Type, { reader: Type; resolver: ReturnType<Type['createResolver']> }>();

  constructor(readonly registry: SchemaRegistry) {}

  get(id: number): Type | undefined {
    return this.registry.cached(id);
  }

  unknown(id: number): string | undefined {
    return this.missing.get(id);
  }

  resolver(reader: Type, writer: Type): ReturnType<Type['createResolver']> {
    const known = this.resolvers.get(writer);
    if (known !== undefined && known.reader === reader) return known.resolver;
    const resolver = reader.createResolver(writer);
    this.resolvers.set(writer, { reader, resolver });
    return resolver;
  }

  /**
   * Looks up the ids of wire-format `values` not known yet; undefined when there are none (the
   * common case: no promise, no delay). Rejects when the registry is unreachable.
   */
  prepare(values: Iterable<Buffer | null | undefined>): Promise<void> | undefined {
    const wanted = new Set<number>();
    for (const value of values) {
      if (!value) continue;
      const id = wireSchemaId(value);
      if (typeof id === 'number' && this.registry.cached(id) === undefined) wanted.add(id);
    }
    if (wanted.size === 0) return undefined;
    // Not kept across batches: an id may be registered (or replicated to this registry) later.
    this.missing.clear();
    return Promise.all(
      [...wanted].map(async (id) => {
        const found = await this.registry.lookup(id);
        if (found.error !== undefined) this.missing.set(id, found.error);
      }),
    ).then(() => undefined);
  }
}
