import { RtmlError } from '../engine/errors.ts';
import type { SinkConnector, SourceConnector } from '../engine/io.ts';
import { fileSink } from './file/sink.ts';
import { fileSource } from './file/source.ts';
import { logSink } from './log/sink.ts';
import { logSource } from './log/source.ts';
import { nullSink } from './null/sink.ts';
import { parseKafkaUri } from './kafka/uri.ts';
import { parseKinesisUri } from './kinesis/uri.ts';
import { parsePubSubUri } from './pubsub/uri.ts';
import { uriFormList } from './uriForms.ts';

/**
 * Source and sink URIs: `file:path.jsonl` (JSON lines) and `log:<dir>/<topic>` (the embedded log;
 * a sink may add `?partitions=N` for a topic it creates); `null:` is a sink that discards. The
 * networked transports — `kafka://`, `kinesis://`, `pubsub://` — parse their own URIs (see their
 * folders) and are loaded only when a binding uses them: their client libraries are large. Every
 * form, as `--help` lists it: uriForms.ts.
 */
interface ParsedUri {
  scheme: 'file' | 'log' | 'null';
  path: string;
  params: URLSearchParams;
}

const SCHEMES = ['file', 'log', 'null'];

/** A local URI; `role` picks the forms a refusal lists. */
export function parseUri(uri: string, flag: string, role: 'source' | 'sink' = 'source'): ParsedUri {
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(uri);
  if (!m || !SCHEMES.includes(m[1]!)) {
    throw new RtmlError('RTML_E_URI', `${flag}: ${JSON.stringify(uri)} is not a supported URI (a ${role} is one of ${uriFormList(role)})`);
  }
  const [path = '', query = ''] = m[2]!.split('?');
  if (path === '' && m[1] !== 'null') throw new RtmlError('RTML_E_URI', `${flag}: ${JSON.stringify(uri)} has no path`);
  return { scheme: m[1] as ParsedUri['scheme'], path, params: new URLSearchParams(query) };
}

function partitionsParam(params: URLSearchParams, flag: string): number | undefined {
  const text = params.get('partitions');
  if (text === null) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new RtmlError('RTML_E_URI', `${flag}: partitions=${text} must be a whole number >= 1`);
  return n;
}

/** Run-wide settings a networked transport may need besides its URI (other transports ignore them). */
export interface TransportOptions {
  /** Confluent Schema Registry URL for Avro on kafka:// bindings (--schema-registry); else local ids. */
  schemaRegistry?: string;
  /** kafka:// sinks write in transactions committed by checkpoints (--exactly-once). */
  exactlyOnce?: boolean;
}

interface Transport {
  source(uri: string, options: TransportOptions): SourceConnector;
  sink(uri: string, options: TransportOptions): SinkConnector;
}

/**
 * The networked transports: `check` parses a URI at bind time (a mistake fails the run before any
 * output is opened); `load` imports the connector and its client library when the run opens it.
 */
const TRANSPORTS: Record<string, { check(uri: string, role: 'source' | 'sink'): unknown; load(): Promise<Transport> }> = {
  kafka: {
    check: (uri) => parseKafkaUri(uri),
    load: async () => {
      const { kafkaSource, kafkaSink, SchemaRegistry } = await import('./kafka/index.ts');
      const registry = (o: TransportOptions) => (o.schemaRegistry === undefined ? undefined : new SchemaRegistry(o.schemaRegistry));
      return { source: (uri, o) => kafkaSource(uri, { schemaRegistry: registry(o) }), sink: (uri, o) => kafkaSink(uri, { schemaRegistry: registry(o), exactlyOnce: o.exactlyOnce }) };
    },
  },
  kinesis: {
    check: (uri) => parseKinesisUri(uri),
    load: async () => {
      const { kinesisSource, kinesisSink } = await import('./kinesis/index.ts');
      return { source: (uri) => kinesisSource(uri), sink: (uri) => kinesisSink(uri) };
    },
  },
  pubsub: {
    check: (uri, role) => parsePubSubUri(uri, role),
    load: async () => {
      const { pubsubSource, pubsubSink } = await import('./pubsub/index.ts');
      return { source: pubsubSource, sink: pubsubSink };
    },
  },
};

/** The transport of a `scheme://…` URI, its URI checked; undefined for the local schemes. */
function transport(uri: string, role: 'source' | 'sink'): (() => Promise<Transport>) | undefined {
  const scheme = /^([a-z]+):\/\//i.exec(uri)?.[1]?.toLowerCase();
  const found = scheme === undefined ? undefined : TRANSPORTS[scheme];
  found?.check(uri, role);
  return found?.load;
}

export function sourceFromUri(uri: string, flag = '--source', transportOptions: TransportOptions = {}): SourceConnector {
  const load = transport(uri, 'source');
  if (load) {
    // One connector behind both calls: readers opened after joinGroup commit through the member.
    let connector: Promise<SourceConnector> | undefined;
    const loaded = () => (connector ??= load().then((t) => t.source(uri, transportOptions)));
    return {
      uri,
      open: async (options) => (await loaded()).open(options),
      joinGroup: async (listener) => {
        const c = await loaded();
        if (c.joinGroup === undefined) throw new RtmlError('RTML_E_BINDING', `${flag} ${uri}: this transport has no consumer groups to scale out with (use kafka://…?group=<id>)`);
        return c.joinGroup(listener);
      },
      shareGroup: async (membership) => {
        const c = await loaded();
        if (c.shareGroup === undefined) throw new RtmlError('RTML_E_BINDING', `${flag} ${uri}: scale-out reads every source in the Kafka consumer group; this transport has none (use kafka://…?group=<id>)`);
        return c.shareGroup(membership);
      },
    };
  }
  const { scheme, path } = parseUri(uri, flag);
  if (scheme === 'null') throw new RtmlError('RTML_E_URI', `${flag}: null: is a sink only`);
  return scheme === 'file' ? fileSource(path) : logSource(path);
}

export function sinkFromUri(uri: string, flag = '--sink', transportOptions: TransportOptions = {}): SinkConnector {
  const load = transport(uri, 'sink');
  if (load) {
    // One connector behind both calls: a transactional sink settles a pending checkpoint's marker too.
    let connector: Promise<SinkConnector> | undefined;
    const loaded = () => (connector ??= load().then((t) => t.sink(uri, transportOptions)));
    return {
      uri,
      open: async (options) => (await loaded()).open(options),
      committedMarker: async (marker, writer) => {
        const c = await loaded();
        if (c.committedMarker === undefined) throw new RtmlError('RTML_E_CHECKPOINT', `${flag} ${uri}: the pending checkpoint has a transaction marker of this sink, which is not exactly-once now (add --exactly-once, or exactly-once=true to the URI)`);
        return c.committedMarker(marker, writer);
      },
    };
  }
  const { scheme, path, params } = parseUri(uri, flag, 'sink');
  if (scheme === 'null') return nullSink();
  return scheme === 'file' ? fileSink(path) : logSink(path, { partitions: partitionsParam(params, flag) });
}
