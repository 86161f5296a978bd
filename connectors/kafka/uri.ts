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
  /** Sinks: write in transactions committed by checkpoints (`exactly-once=true`). */
  exactlyOnce: boolean;
  /** Sources: whether records of open and aborted transactions are skipped (`isolation=`; default read_committed). */
  isolation: 'read_committed' | 'read_uncommitted';
  /**
   * librdkafka's security settings for a managed cluster (TLS, SASL), from the URI's parameters of
   * the same names; secrets from the environment (never the URI, which `ps` and logs show).
   */
  security: Readonly<Record<string, string>>;
}

export const FORM = 'kafka://host:port[,host2:port2]/topic[?group=<id>&schema=<file.avsc>&connect-timeout=60s&exactly-once=true&isolation=read_committed&security.protocol=SASL_SSL&sasl.mechanisms=PLAIN&sasl.username=<user>&ssl.ca.location=<file>…]';

/** librdkafka settings a URI may carry: how to reach a secured cluster (not tuning, which rtml sets). */
const SECURITY_SETTINGS = [
  'security.protocol',
  'sasl.mechanisms',
  'sasl.username',
  'sasl.oauthbearer.method',
  'sasl.oauthbearer.client.id',
  'sasl.oauthbearer.token.endpoint.url',
  'sasl.oauthbearer.scope',
  'ssl.ca.location',
  'ssl.certificate.location',
  'ssl.key.location',
  'ssl.endpoint.identification.algorithm',
];

/** Secrets, each from an environment variable when it is set. */
const SECRET_SETTINGS: Readonly<Record<string, string>> = {
  'sasl.password': 'RTML_KAFKA_SASL_PASSWORD',
  'ssl.key.password': 'RTML_KAFKA_SSL_KEY_PASSWORD',
  'sasl.oauthbearer.client.secret': 'RTML_KAFKA_OAUTH_CLIENT_SECRET',
};
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
  const known = new Set(['group', 'schema', 'connect-timeout', 'exactly-once', 'isolation', ...SECURITY_SETTINGS]);
  for (const key of params.keys()) {
    if (key in SECRET_SETTINGS) throw bad(`${key} does not belong in a URI (command lines and logs show it): set ${SECRET_SETTINGS[key]}`);
    if (!known.has(key)) throw bad(`unknown parameter ${JSON.stringify(key)}`);
  }
  const security: Record<string, string> = {};
  for (const key of SECURITY_SETTINGS) {
    const value = params.get(key);
    if (value !== null) security[key] = value;
  }
  for (const [key, variable] of Object.entries(SECRET_SETTINGS)) {
    const value = process.env[variable];
    if (value !== undefined && value !== '') security[key] = value;
  }
  const group = params.get('group') ?? `rtml-${topic}`;
  if (group === '') throw bad('group= is empty');
  const schema = params.get('schema') ?? undefined;
  if (schema === '') throw bad('schema= is empty');
  const timeout = params.get('connect-timeout');
  const connectTimeoutMs = timeout === null ? DEFAULT_CONNECT_TIMEOUT_MS : parseDuration(/^\d+$/.test(timeout) ? Number(timeout) : timeout, `${uri}: connect-timeout`);
  const exactly = params.get('exactly-once');
  if (exactly !== null && exactly !== 'true' && exactly !== 'false') throw bad(`exactly-once=${exactly} must be true or false`);
  const isolation = params.get('isolation') ?? 'read_committed';
  if (isolation !== 'read_committed' && isolation !== 'read_uncommitted') throw bad(`isolation=${isolation} must be read_committed or read_uncommitted`);
  return { brokers, topic, group, schema, connectTimeoutMs, security, exactlyOnce: exactly === 'true', isolation };
}

/** The URI of another topic on the same cluster (the scale-out exchange), with the same security settings (secrets stay in the environment). */
export function kafkaUriFor(kafka: KafkaUri, topic: string, group: string): string {
  const params = new URLSearchParams({ group });
  for (const [key, value] of Object.entries(kafka.security)) if (!(key in SECRET_SETTINGS)) params.set(key, value);
  return `kafka://${kafka.brokers.join(',')}/${topic}?${params}`;
}
