import { parseDuration } from '../../engine/duration.ts';
import { RtmlError } from '../../engine/errors.ts';

/** What a `kinesis://` URI names. */
export interface KinesisUri {
  stream: string;
  region: string;
  /** An endpoint other than AWS (kinesis-mock, LocalStack), e.g. http://127.0.0.1:4568. */
  endpoint: string | undefined;
  /** An .avsc file: the sink writes values Avro-encoded with it (else JSON). */
  schema: string | undefined;
  /** How long a source keeps retrying an unreachable stream at start before giving up (ms). */
  connectTimeoutMs: number;
}

export const FORM = 'kinesis://<stream>?region=<region>[&endpoint=http://host:port&schema=<file.avsc>&connect-timeout=60s]';
const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;

/** Parses `kinesis://<stream>?region=us-east-1&endpoint=http://127.0.0.1:4568`. */
export function parseKinesisUri(uri: string): KinesisUri {
  const bad = (why: string): RtmlError => new RtmlError('RTML_E_URI', `${JSON.stringify(uri)}: ${why} (expected ${FORM})`);
  const m = /^kinesis:\/\/([^/?#]*)\/?(?:\?([^#]*))?$/.exec(uri);
  if (!m) throw bad('not a Kinesis URI');
  let stream: string;
  try {
    stream = decodeURIComponent(m[1]!);
  } catch {
    throw bad('the stream name is not validly percent-encoded');
  }
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(stream)) throw bad(`stream ${JSON.stringify(stream)} must be 1-128 of letters, digits, '.', '_' and '-'`);
  const params = new URLSearchParams(m[2] ?? '');
  const known = new Set(['region', 'endpoint', 'schema', 'connect-timeout']);
  for (const key of params.keys()) if (!known.has(key)) throw bad(`unknown parameter ${JSON.stringify(key)}`);
  const region = params.get('region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (region === undefined || region === '') throw bad('region= is missing (and AWS_REGION is not set)');
  if (!/^[a-z0-9-]{2,40}$/.test(region)) throw bad(`region ${JSON.stringify(region)} is not a region name like us-east-1`);
  const endpoint = params.get('endpoint') ?? undefined;
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw bad(`endpoint ${JSON.stringify(endpoint)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`endpoint ${JSON.stringify(endpoint)} must be http:// or https://`);
  }
  const schema = params.get('schema') ?? undefined;
  if (schema === '') throw bad('schema= is empty');
  const timeout = params.get('connect-timeout');
  const connectTimeoutMs = timeout === null ? DEFAULT_CONNECT_TIMEOUT_MS : parseDuration(/^\d+$/.test(timeout) ? Number(timeout) : timeout, `${uri}: connect-timeout`);
  return { stream, region, endpoint, schema, connectTimeoutMs };
}

/** The error's name: the AWS exception type, else the Node error code (ECONNREFUSED). */
export function errorName(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; code?: unknown };
    if (typeof e.name === 'string' && e.name !== 'Error' && e.name !== 'TypeError') return e.name;
    if (typeof e.code === 'string') return e.code;
  }
  return 'Error';
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
