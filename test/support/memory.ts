import type { FeatureRow, FeatureStore } from '../../engine/features.ts';
import { InputRecord, type SinkConnector, type SinkWriter, type SourceConnector, type SourceReader } from '../../engine/io.ts';

/**
 * In-memory source and sink for engine tests: partitions given as arrays of values (an
 * `Undecodable` element stands for a payload that could not be decoded). Real transports are tested with files and the log.
 */
export function memorySource(partitions: unknown[][], options: { live?: boolean } = {}): SourceConnector {
  return {
    uri: 'memory:',
    async open(opened): Promise<SourceReader> {
      // Resuming: start after the last offset processed.
      const positions = partitions.map((_, p) => (opened.startAfter?.get(p) ?? -1) + 1);
      return {
        partitions: partitions.map((_, i) => i),
        async read(p, max) {
          const values = partitions[p]!;
          // Live (follow mode): after its records, a partition has nothing new, forever.
          if (positions[p]! >= values.length) return options.live ? [] : null;
          const out: InputRecord[] = [];
          while (out.length < max && positions[p]! < values.length) {
            const offset = positions[p]!++;
            const v = values[offset];
            out.push(v instanceof Undecodable ? new InputRecord(offset, undefined, v.reason, v.raw) : new InputRecord(offset, v));
          }
          return out;
        },
        progress: () => undefined,
        async close() {},
      };
    },
  };
}

/** A value the memory source reports as undecodable. */
export class Undecodable {
  constructor(
    readonly reason: string,
    readonly raw: string,
  ) {}
}

export interface MemorySink {
  connector: SinkConnector;
  values: unknown[];
  /** JSON round trip, as a file sink would store them. */
  json(): Record<string, unknown>[];
}

export function memorySink(): MemorySink {
  const values: unknown[] = [];
  // Each run opens its own writer; the values of every run collect in one array.
  const open = async (): Promise<SinkWriter> => {
    let closed = false;
    return {
      pending: 0,
      write(value) {
        if (closed) throw new Error('write after close');
        values.push(value);
      },
      async flush() {},
      async close() {
        closed = true;
      },
    };
  };
  return {
    connector: { uri: 'memory:', open },
    values,
    json: () => values.map((v) => JSON.parse(JSON.stringify(v)) as Record<string, unknown>),
  };
}

/** A feature store that keeps the rows written, per view, for engine tests. */
export function memoryFeatureStore(): { store: FeatureStore; rows: Map<string, FeatureRow[]> } {
  const rows = new Map<string, FeatureRow[]>();
  const store: FeatureStore = {
    description: 'memory',
    async open() {
      const buffered: [string, FeatureRow][] = [];
      const flush = async () => {
        for (const [name, row] of buffered.splice(0)) rows.set(name, [...(rows.get(name) ?? []), row]);
      };
      return {
        write: (view, row) => void buffered.push([view.name, row]),
        get pending() {
          return buffered.length;
        },
        flush,
        close: flush,
      };
    },
  };
  return { store, rows };
}
