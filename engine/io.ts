import type { Type } from 'avsc';

/**
 * The boundary between the engine and its connectors (connectors/ implements these; engine/ never
 * imports connectors/). Sources are read partition by partition in batches; sinks buffer writes and
 * are flushed by the runtime between batches, which gives backpressure without per-event promises.
 */

/** A record key as the transports carry it. */
export type RecordKey = string | number;

/** One record read from a source partition, before the engine validates it and reads its time. */
export class InputRecord {
  constructor(
    /** Position in the partition (a log offset, a 0-based line index for a file). */
    readonly offset: number,
    /** The decoded value; undefined when decoding failed. */
    readonly value: unknown,
    /** Why decoding failed (then the record goes to the dead-letter output), else undefined. */
    readonly error: string | undefined = undefined,
    /** The undecodable input as text (a JSON line, or base64 of Avro bytes); only set with `error`. */
    readonly raw: string | undefined = undefined,
    /** The transport's own timestamp in epoch ms (the log's record timestamp), NaN when it has none. */
    readonly timestamp: number = Number.NaN,
  ) {}
}

export interface SourceOpenOptions {
  /** Where to start when there is no checkpoint: the first record, or the end at open time. */
  from: 'earliest' | 'latest';
  /** Keep reading new appends after the end; without it the input ends at the end seen at open. */
  follow: boolean;
  /** The Avro reader schema the topology declared for this source, if any. */
  readerSchema: Type | undefined;
  /** Resuming from a checkpoint: per partition, the offset of the last record already processed. */
  startAfter?: ReadonlyMap<number, number>;
  /** Resuming: what the reader's `checkpoint()` returned when the checkpoint was taken. */
  resume?: unknown;
  /** A replay range (bounded input): where each partition starts and ends, both inclusive. */
  range?: { from?: LogPosition; to?: LogPosition };
}

/**
 * A position in a partition: an offset, or an event time — the first record stamped at or after
 * it (`from`), the last before the first record stamped after it (`to`).
 */
export type LogPosition = { offset: number } | { time: number };

export interface SourceReader {
  /** Partition numbers, ascending. */
  readonly partitions: readonly number[];
  /**
   * True when the reader decodes with the reader schema it was given (Avro), so values already
   * conform to it and the engine need not validate them again.
   */
  readonly decodesWithReaderSchema?: boolean;
  /**
   * Up to `max` next records of `partition` in offset order; `[]` when nothing is available yet
   * (follow mode only); `null` once a bounded partition is exhausted.
   */
  read(partition: number, max: number): Promise<InputRecord[] | null>;
  /**
   * Transport positions the offsets alone cannot restore (Kinesis sequence numbers), for the
   * partitions' last processed offsets `positions`; saved in the checkpoint and handed back to
   * `open` as `resume`.
   */
  checkpoint?(positions: ReadonlyMap<number, number>): unknown;
  /**
   * Called once each checkpoint is durable, with the offset of the last processed record of each
   * partition it covers: where a transport commits consumer offsets (Kafka) or acknowledges
   * messages (Pub/Sub) — never earlier, so a crash resumes from the checkpoint and loses nothing.
   */
  committed?(positions: ReadonlyMap<number, number>): Promise<void>;
  /** Progress of a bounded input in the source's own units (records or bytes). */
  progress(): { done: number; total: number } | undefined;
  close(): Promise<void>;
}

export interface SourceConnector {
  /** The URI it was made from, for messages. */
  readonly uri: string;
  open(options: SourceOpenOptions): Promise<SourceReader>;
}

export interface SinkWriter {
  /** Buffers one record. `key` and `time` (epoch ms) are used by keyed, timestamped transports. */
  write(value: unknown, key: RecordKey | undefined, time: number): void;
  /** Amount buffered and not yet written (bytes); the runtime flushes once it passes a threshold. */
  readonly pending: number;
  /** Writes everything buffered. */
  flush(): Promise<void>;
  /** Flushes, makes the writes durable where the transport can, and releases resources. */
  close(): Promise<void>;
  /**
   * Flushes durably and returns where the output stands (e.g. a file's length), saved in the
   * checkpoint and handed back to `open` on resume. Sinks without it are at-least-once on resume.
   */
  checkpoint?(): Promise<unknown>;
}

export interface SinkOpenOptions {
  /** Resuming: what `checkpoint()` returned when the checkpoint was taken. */
  resume?: unknown;
}

export interface SinkConnector {
  readonly uri: string;
  open(options?: SinkOpenOptions): Promise<SinkWriter>;
}
