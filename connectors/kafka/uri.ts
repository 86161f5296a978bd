import { parseDuration } from '../../engine/duration.ts';
import { RtmlError } from '../../engine/errors.ts';

/** What a `kafka://` URI names. */
export interface KafkaUri {
  /** Bootstrap brokers, host:port each. */
  brokers: string[];
  topic: string;
  /** Consumer group whose committed offsets a source resumes from and commits to (default rtml-<topic>). */
  group: string;
  /** An .avsc file: values in the Confluent wire format with this schema (else JSON). */
  schema: string | undefined;
  /** How long a source keeps retrying an unreachable cluster at start before giving up (ms). */
  connectTimeoutMs: number;
}

export const FORM = 'kafka://host:port[,host2:port2]/topic[?group=<id>&schema=<file.avsc>&connect-timeout=60s]';
const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;

/** Parses `kafka://host:port[,host2:port2]/topic?group=<id>&schema=<file.avsc>&connect-timeout=<duration>`. */
export function parseKafkaUri(uri: string): KafkaUri {
  const bad = (why: string): RtmlError => new RtmlError('RTML_E_URI', `${JSON.stringify(uri)}: ${why} (expected ${FORM})`);
  const m = /^kafka:\/\/([^/?#]*)\/([^?#]*)(?:\?([^#]*))?$/.exec(uri);
  if (!m) throw bad('not a Kafka URI');
  const brokers = m[1]!.split(',').map((b) => b.trim());
  if (brokers.length === 0 || brokers.some((b) => !/^[A-Za-z0-9._-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(b))) {
    throw bad(`brokers ${JSON.stringify(m[1])} must be host:port, comma-separated`);
  }
  let topic: string;
  try {
    topic = decodeURIComponent(m[2]!);
  } catch {
    throw bad('the topic is not validly percent-encoded');
  }
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) throw bad(`topic ${JSON.stringify(topic)} must be 1-249 of letters, digits, '.', '_' and '-'`);
  const params = new URLSearchParams(m[3] ?? '');
  const known = new Set(['group', 'schema', 'connect-timeout']);
  for (const key of params.keys()) if (!known.has(key)) throw bad(`unknown parameter ${JSON.stringify(key)}`);
  const group = params.get('group') ?? `rtml-${topic}`;
  if (group === '') throw bad('group= is empty');
  const schema = params.get('schema') ?? undefined;
  if (schema === '') throw bad('schema= is empty');
  const timeout = params.get('connect-timeout');
  const connectTimeoutMs = timeout === null ? DEFAULT_CONNECT_TIMEOUT_MS : parseDuration(/^\d+$/.test(timeout) ? Number(timeout) : timeout, `${uri}: connect-timeout`);
  return { brokers, topic, group, schema, connectTimeoutMs };
}
