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
    /**
     * The Avro type the value was decoded to (the reader schema, else the record's writer schema);
     * undefined for JSON and for records that failed. A value decoded with the topology's declared
     * schema conforms to it (not validated again); the type's logical types (`timestamp-micros`)
     * set how an event-time field is read when the topology declares no schema.
     */
    readonly schema: Type | undefined = undefined,
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
  /**
   * A range of each partition, both ends inclusive: a replay (bounded), or `rtml run --from <time>`
   * (only `from`; then the run is live or bounded by `follow` as usual).
   */
  range?: { from?: LogPosition; to?: LogPosition };
  /** Read only these partitions (a scale-out task); default every partition. */
  partitions?: readonly number[];
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
   * True when the reader decodes every record with the reader schema it was given (Avro), so values
   * already conform to it and the engine need not validate them again. A reader that decodes only
   * some records with it (the log: JSON payloads too) leaves this unset and marks those records
   * instead (InputRecord.schema).
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
  /**
   * True when the reader cannot deliver more until what it has handed out is committed (Pub/Sub:
   * an ordering key's next messages, or flow control's limit of unacknowledged messages). Polled by
   * the runtime after each burst of input: it then takes a checkpoint if checkpoints are configured,
   * else writes out every output and calls this reader's `committed()` (at-least-once, as at the
   * end of a bounded run). True only from a `read` that found nothing new until the next
   * `committed()`, so a blocked reader costs one commit per such read.
   */
  commitWanted?(): boolean;
  /**
   * Live runs: resolves once records may have arrived since a `read` found none (or the reader
   * failed, or closed), so the runtime reads again at once instead of after its poll interval.
   * A hint only: it changes when records are read, never which. Never rejects.
   */
  whenReadable?(): Promise<void>;
  /** Progress of a bounded input in the source's own units (records or bytes). */
  progress(): { done: number; total: number } | undefined;
  /**
   * A range ending at an offset: per partition, the event time stamped on its last record in the
   * range (+inf when the range reaches the partition's end), for the range's end edge
   * (engine/rangeEdges.ts). Sources that cannot tell leave it out; the edge is then learnt as the run goes.
   */
  rangeEndTimes?(): Promise<ReadonlyMap<number, number>>;
  close(): Promise<void>;
}

export interface SourceConnector {
  /** The URI it was made from, for messages. */
  readonly uri: string;
  open(options: SourceOpenOptions): Promise<SourceReader>;
  /**
   * Scale-out: joins the group of workers that share out this source's partitions (a Kafka
   * consumer group). Readers opened afterwards commit positions as the group member does.
   */
  joinGroup?(listener: GroupListener): Promise<GroupMembership>;
  /**
   * Scale-out with several sources: this one is co-partitioned with the source that joined the
   * group (as many partitions, keyed alike); each task reads its partition of both, and this
   * source's readers commit as that member does. Refuses sources that cannot be (another transport,
   * another group, another partition count).
   */
  shareGroup?(membership: GroupMembership): Promise<void>;
}

/** What a worker does when the group gives it partitions or takes them away. */
export interface GroupListener {
  /** These partitions are now this worker's: start their tasks. */
  assigned(partitions: readonly number[]): void;
  /**
   * These partitions are taken away: the promise resolves once their tasks have stopped with their
   * state checkpointed — only then does another worker get them. `lost`: the group already gave
   * them away (this worker was too slow), so nothing may be checkpointed or committed for them.
   */
  revoked(partitions: readonly number[], lost: boolean): Promise<void>;
}

export interface GroupMembership {
  /** Group and member, for messages. */
  readonly description: string;
  /**
   * Bounded runs: true once the group has committed `partitions` (default all) up to where they
   * ended when this worker joined, and read their exchange partitions to the end — their tasks are
   * done, whichever worker ran them.
   */
  drained(partitions?: readonly number[]): Promise<boolean>;
  /**
   * The exchange topic `name` for repartition(): as many partitions as the source, partitioned by
   * key, read by the tasks of the same partition numbers (and committed as this member).
   */
  exchange(name: string): Promise<{ source: SourceConnector; sink: SinkConnector; partitions: number }>;
  /** Leaves the group (its partitions are revoked first, through the listener). */
  leave(): Promise<void>;
}

export interface SinkWriter {
  /** Buffers one record. `key` and `time` (epoch ms) are used by keyed, timestamped transports. */
  write(value: unknown, key: RecordKey | undefined, time: number): void;
  /**
   * Buffers one record for a given partition of a partitioned transport (the watermark markers a
   * repartition exchange sends to every partition).
   */
  writeTo?(partition: number, value: unknown, time: number): void;
  /** Amount buffered and not yet written (bytes); the runtime flushes once it passes a threshold. */
  readonly pending: number;
  /** Writes everything buffered. */
  flush(): Promise<void>;
  /**
   * Hands everything buffered to the transport without waiting until it is written (a producer's
   * send queue), for latency; resolves once what is handed off and unacknowledged is back under the
   * writer's bound (backpressure). The runtime calls it between batches; `flush`, `checkpoint` and
   * `close` still wait for everything, and a failed write fails the next of any of these calls.
   */
  handOff?(): Promise<void>;
  /** Flushes, makes the writes durable where the transport can, and releases resources. */
  close(): Promise<void>;
  /**
   * Flushes durably and returns where the output stands (e.g. a file's length), saved in the
   * checkpoint and handed back to `open` on resume. Sinks without it (or a transaction) are at-least-once on resume.
   */
  checkpoint?(): Promise<unknown>;
  /**
   * True when the writer adds to output that was there before the run (the log), rather than
   * rewriting it: a run with checkpoints then saves its start, so that after a crash before its
   * first checkpoint the output is cut back to where the run began.
   */
  readonly appends?: boolean;
  /**
   * Exactly-once sinks that write in transactions (Kafka's transactional producer): the writes
   * between two checkpoints, invisible to readers of committed data until the checkpoint commits
   * them. Writers that share one transaction share this object.
   */
  readonly transaction?: SinkTransaction;
}

/**
 * The open transaction of an exactly-once sink. A checkpoint commits it in two phases with the
 * checkpoint file (engine/run/checkpointer.ts): `prepare` adds a marker naming the checkpoint (and
 * the sources' offsets) to it, the checkpoint is saved as pending, `commit` commits, then the
 * checkpoint is marked committed. A run that finds a pending checkpoint asks the sink whether its
 * marker was committed (SinkConnector.committedMarker) and resumes from it, or else from the one
 * before: either way its state matches exactly the outputs readers of committed data see.
 */
export interface SinkTransaction {
  /**
   * Writes out what is handed off, then adds checkpoint `id`'s marker and, for sources on the same
   * cluster, their offsets (the next record of each partition read) to the transaction; returns
   * where the marker is (saved in the pending checkpoint).
   */
  prepare(id: number, sources: readonly SourceOffsets[]): Promise<unknown>;
  /** Commits the transaction and opens the next. */
  commit(): Promise<void>;
}

/** A source's positions at a checkpoint: per partition, the offset of the last record processed. */
export interface SourceOffsets {
  readonly reader: SourceReader;
  readonly positions: ReadonlyMap<number, number>;
}

export interface SinkOpenOptions {
  /** Resuming: what `checkpoint()` returned when the checkpoint was taken. */
  resume?: unknown;
  /**
   * Who writes: the topology, and scaled out its task. A transactional sink names its transactions
   * after it, so a restarted or moved task fences every earlier writer of the same outputs.
   */
  writer?: string;
}

export interface SinkConnector {
  readonly uri: string;
  open(options?: SinkOpenOptions): Promise<SinkWriter>;
  /**
   * Transactional sinks, resuming from a pending checkpoint: fences `writer`'s earlier transactions
   * (a crashed run's is aborted, or completed if it was committing), then tells whether the one
   * holding `marker` (what SinkTransaction.prepare returned) was committed.
   */
  committedMarker?(marker: unknown, writer: string): Promise<boolean>;
}
