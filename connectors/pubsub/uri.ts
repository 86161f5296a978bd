import { parseDuration } from '../../engine/duration.ts';
import { RtmlError } from '../../engine/errors.ts';

/** What a `pubsub://` URI names. */
export interface PubSubUri {
  project: string;
  /** A subscription (source) or a topic (sink). */
  name: string;
  /** Source, bounded runs: the input ends after this long without a new message (ms). */
  idleMs: number;
  /** How long to keep retrying an unreachable server at start before giving up (ms). */
  connectTimeoutMs: number;
  /** Sink: publish with the result's key as ordering key. */
  ordering: boolean;
  /** Sink: an .avsc file; values are published Avro-encoded with it (else JSON). */
  schema: string | undefined;
}

export const SOURCE_FORM = 'pubsub://<project>/<subscription>[?idle=2000&connect-timeout=60s]';
export const SINK_FORM = 'pubsub://<project>/<topic>[?ordering=true&schema=<file.avsc>&connect-timeout=60s]';
const DEFAULT_IDLE_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;

/**
 * Parses `pubsub://<project>/<subscription>` (a source) or `pubsub://<project>/<topic>` (a sink).
 * The server is the real Pub/Sub service, or the emulator named by `PUBSUB_EMULATOR_HOST`.
 */
export function parsePubSubUri(uri: string, role: 'source' | 'sink'): PubSubUri {
  const form = role === 'source' ? SOURCE_FORM : SINK_FORM;
  const what = role === 'source' ? 'subscription' : 'topic';
  const bad = (why: string): RtmlError => new RtmlError('RTML_E_URI', `${JSON.stringify(uri)}: ${why} (expected ${form})`);
  const m = /^pubsub:\/\/([^/?#]*)\/([^/?#]*)(?:\?([^#]*))?$/.exec(uri);
  if (!m) throw bad(`not a Pub/Sub ${role} URI`);
  const project = m[1]!;
  if (!/^[a-z][a-z0-9-]{0,62}$|^[A-Za-z0-9.:_-]{1,100}$/.test(project)) throw bad(`project ${JSON.stringify(project)} is not a valid project id`);
  let name: string;
  try {
    name = decodeURIComponent(m[2]!);
  } catch {
    throw bad(`the ${what} is not validly percent-encoded`);
  }
  // Pub/Sub resource names: 3-255 chars, starting with a letter, of letters, digits and -_.~+%.
  if (!/^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/.test(name) || name.startsWith('goog')) {
    throw bad(`${what} ${JSON.stringify(name)} must be 3-255 letters, digits or -_.~+% starting with a letter (and not with "goog")`);
  }
  const params = new URLSearchParams(m[3] ?? '');
  const known = new Set(role === 'source' ? ['idle', 'connect-timeout'] : ['ordering', 'schema', 'connect-timeout']);
  for (const key of params.keys()) if (!known.has(key)) throw bad(`unknown parameter ${JSON.stringify(key)} for a ${role}`);
  const duration = (key: string, fallback: number): number => {
    const text = params.get(key);
    if (text === null) return fallback;
    try {
      return parseDuration(/^\d+$/.test(text) ? Number(text) : text, `${uri}: ${key}`);
    } catch (err) {
      throw bad(`${key}=${text} is not a duration (ms, or like 2s)${err instanceof Error ? `: ${err.message}` : ''}`);
    }
  };
  const ordering = params.get('ordering');
  if (ordering !== null && ordering !== 'true' && ordering !== 'false') throw bad(`ordering=${ordering} must be true or false`);
  const schema = params.get('schema') ?? undefined;
  if (schema === '') throw bad('schema= is empty');
  return {
    project,
    name,
    idleMs: duration('idle', DEFAULT_IDLE_MS),
    connectTimeoutMs: duration('connect-timeout', DEFAULT_CONNECT_TIMEOUT_MS),
    ordering: ordering === 'true',
    schema,
  };
}
