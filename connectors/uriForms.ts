import { FORM as KAFKA_FORM } from './kafka/uri.ts';
import { FORM as KINESIS_FORM } from './kinesis/uri.ts';
import { SINK_FORM as PUBSUB_SINK_FORM, SOURCE_FORM as PUBSUB_SOURCE_FORM } from './pubsub/uri.ts';

/**
 * Every URI form a binding (--source, --sink) or a feature store (--online, --offline) accepts, in
 * one table: the parsers (connectors/uri.ts, connectors/features/uri.ts) take their schemes and their
 * error messages from it, and `rtml run --help` lists it, so the help cannot drift from what is
 * parsed. The networked transports' forms are their own parsers' (kafka/, kinesis/, pubsub/ uri.ts).
 * It loads no connector: the CLI reads it to print help.
 */

export type UriRole = 'source' | 'sink' | 'online' | 'offline';

export interface UriForm {
  /** The scheme, without its colon. */
  readonly scheme: string;
  readonly roles: readonly UriRole[];
  readonly form: string;
  readonly what: string;
}

export const URI_FORMS: readonly UriForm[] = [
  { scheme: 'file', roles: ['source', 'sink'], form: 'file:<path.jsonl>', what: 'JSON lines' },
  { scheme: 'log', roles: ['source', 'sink'], form: 'log:<dir>/<topic>[?partitions=N]', what: 'the embedded event log (partitions: for a topic a sink creates)' },
  { scheme: 'kafka', roles: ['source', 'sink'], form: KAFKA_FORM, what: 'Apache Kafka' },
  { scheme: 'kinesis', roles: ['source', 'sink'], form: KINESIS_FORM, what: 'Amazon Kinesis Data Streams' },
  { scheme: 'pubsub', roles: ['source'], form: PUBSUB_SOURCE_FORM, what: 'Google Cloud Pub/Sub subscription' },
  { scheme: 'pubsub', roles: ['sink'], form: PUBSUB_SINK_FORM, what: 'Google Cloud Pub/Sub topic' },
  { scheme: 'null', roles: ['sink'], form: 'null:', what: 'discards what it is given' },
  { scheme: 'redis', roles: ['online'], form: 'redis://host:port[/db]', what: 'Redis' },
  { scheme: 'rediss', roles: ['online'], form: 'rediss://host:port[/db]', what: 'Redis over TLS' },
  { scheme: 'memory', roles: ['online'], form: 'memory:', what: 'inside the process (the default)' },
  { scheme: 'postgres', roles: ['offline'], form: 'postgres://user@host:port/db', what: 'PostgreSQL' },
  { scheme: 'postgresql', roles: ['offline'], form: 'postgresql://user@host:port/db', what: 'PostgreSQL (the same)' },
  { scheme: 'pglite', roles: ['offline'], form: 'pglite:<dir>', what: 'embedded PostgreSQL (PGlite; default pglite:data/pglite)' },
];

/** The forms a role accepts, in table order. */
export function uriForms(role: UriRole): UriForm[] {
  return URI_FORMS.filter((f) => f.roles.includes(role));
}

/** `a, b or c`: the forms a role accepts, for an error message. */
export function uriFormList(role: UriRole): string {
  const forms = uriForms(role).map((f) => f.form);
  return forms.length < 2 ? forms.join('') : `${forms.slice(0, -1).join(', ')} or ${forms.at(-1)}`;
}

const HEADINGS: Record<UriRole, string> = {
  source: 'Sources (--source name=URI)',
  sink: 'Sinks (--sink name=URI; "dlq" takes dead letters)',
  online: 'Online feature stores (--online)',
  offline: 'Offline feature stores (--offline) and model registries (--registry)',
};

/** Every scheme by role, for `--help`. */
export function uriHelp(): string {
  const sections = (Object.keys(HEADINGS) as UriRole[]).map(
    (role) => `${HEADINGS[role]}:\n${uriForms(role).map((f) => `  ${f.form}\n      ${f.what}`).join('\n')}`,
  );
  return `\nURI schemes:\n${sections.join('\n')}\n`;
}
