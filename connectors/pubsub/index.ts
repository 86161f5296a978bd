import type { SinkConnector, SourceConnector } from '../../engine/io.ts';
import { pubsubSinkConnector } from './sink.ts';
import { pubsubSourceConnector } from './source.ts';

export { parsePubSubUri, SINK_FORM, SOURCE_FORM, type PubSubUri } from './uri.ts';

/**
 * `pubsub://<project>/<subscription>[?idle=2000&connect-timeout=60s]` as a source (see source.ts:
 * acknowledged only once a checkpoint covers a message; bounded input ends after `idle` ms without
 * a new message). The server is Google Cloud Pub/Sub, or the emulator named by PUBSUB_EMULATOR_HOST.
 */
export function pubsubSource(uri: string): SourceConnector {
  return pubsubSourceConnector(uri);
}

/**
 * `pubsub://<project>/<topic>[?ordering=true&schema=<file.avsc>&connect-timeout=60s]` as a sink
 * (see sink.ts: batched publishes, attribute `key` = the result's key, ordering key too with
 * `ordering=true`; JSON values, or Avro with `schema`).
 */
export function pubsubSink(uri: string): SinkConnector {
  return pubsubSinkConnector(uri);
}
