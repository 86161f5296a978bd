import { InputRecord, type SourceConnector } from '../../engine/io.ts';
import { countOf, idOf, NexmarkGenerator, type EventKind } from './generator.ts';

/**
 * In-process Nexmark sources: one connector per event kind, generating its events on the fly as the
 * run reads them (no disk, nothing held beyond the batch being read). One partition each, offsets
 * numbering the kind's events; the run merges the kinds by event time, as one Nexmark stream.
 */
export function nexmarkSource(generator: NexmarkGenerator, kind: EventKind, onRead?: (read: number) => void): SourceConnector {
  const total = countOf(kind, generator.events);
  const make = kind === 'person' ? (id: number) => generator.person(id) : kind === 'auction' ? (id: number) => generator.auction(id) : (id: number) => generator.bid(id);
  return {
    uri: `nexmark:${kind}`,
    async open(options) {
      let next = (options.startAfter?.get(0) ?? -1) + 1;
      return {
        partitions: [0],
        async read(_partition, max) {
          if (next >= total) return null;
          const end = Math.min(next + max, total);
          const batch = new Array<InputRecord>(end - next);
          for (let i = 0; next < end; i++, next++) batch[i] = new InputRecord(next, make(idOf(kind, next)));
          onRead?.(batch.length);
          return batch;
        },
        progress: () => ({ done: next, total }),
        async close() {},
      };
    },
  };
}

/** The sources of every kind a topology reads, by source name (the kind's name). */
export function nexmarkSources(generator: NexmarkGenerator, kinds: readonly EventKind[], onRead?: (read: number) => void): Record<string, SourceConnector> {
  return Object.fromEntries(kinds.map((kind) => [kind, nexmarkSource(generator, kind, onRead)]));
}
