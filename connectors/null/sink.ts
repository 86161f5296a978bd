import type { SinkConnector, SinkWriter } from '../../engine/io.ts';

/** `null:`: a sink that discards what it is given (backfills, benchmarks). */
export function nullSink(): SinkConnector {
  const writer: SinkWriter = { pending: 0, write() {}, async flush() {}, async close() {} };
  return { uri: 'null:', open: async () => writer };
}
