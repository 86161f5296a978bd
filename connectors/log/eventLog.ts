import fs from 'node:fs';
import type { Type } from 'avsc';
import { RtmlError } from '../../engine/errors.ts';
import { topicConfigPath } from './layout.ts';
import { partitionFor } from './partitioner.ts';
import { PartitionWriter } from './partitionWriter.ts';
import { utf8Length } from './recordFormat.ts';
import { cutPartition, recoverPartition, type RecoveredTail } from './recovery.ts';
import { JSON_SCHEMA_ID, SchemaRegistry, type SchemaInput } from './schemaRegistry.ts';
import { checkPartitions, checkSegmentBytes, DEFAULT_SEGMENT_BYTES, readTopicConfig, writeTopicConfig, type TopicConfig } from './topicConfig.ts';
import { WriterLock } from './writerLock.ts';

export interface EventLogOpenOptions {
  /**
   * Create the topic when it does not exist. An existing topic must have this partition count; its
   * segmentBytes stays as recorded in its topic.json.
   */
  create?: { partitions: number; segmentBytes?: number };
  /**
   * A sink resuming from a checkpoint: each partition's offset there (its record count then). What
   * was appended after it is cut away before anything is appended (see cutPartition).
   */
  cutTo?: readonly number[];
}

export interface AppendResult {
  readonly partition: number;
  readonly offset: number;
}

/**
 * The writer of one topic of the embedded log (see layout.ts and recordFormat.ts for the files).
 *
 * 1. `open` takes the topic's writer lock (one writer per topic; readers need none) and recovers
 *    torn tails: the first invalid record of each partition's last segment and everything after it
 *    are cut off and listed in `recovered`.
 * 2. `append` is synchronous: it encodes the record into the partition's buffer and returns its
 *    offset; a buffer passing 1 MiB is written at once. Offsets of a partition are 0, 1, 2, …
 * 3. `flush()` writes every buffer (one write per partition) and fsyncs; `flush({ fsync: false })`
 *    only writes (readers see the records, a machine crash may lose them). `close` flushes, fsyncs and
 *    releases the lock.
 *
 *   const log = EventLog.open('data/txns', { create: { partitions: 4 } });
 *   const id = log.registerSchema({ type: 'record', name: 'Txn', fields: [...] });
 *   log.append('card-1', Date.now(), id, log.schema(id).toBuffer(txn));
 *   log.close();
 */
export class EventLog {
  private roundRobin = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly config: TopicConfig,
    private readonly lock: WriterLock,
    private readonly schemas: SchemaRegistry,
    private readonly writers: readonly PartitionWriter[],
    /** Torn tails cut off on open, one entry per partition that had one. */
    readonly recovered: readonly RecoveredTail[],
  ) {}

  /**
   * Opens a topic for writing, creating it with `partitions` (default 1) when it is not there; an
   * existing topic is checked against `partitions` only when it is given.
   */
  static openOrCreate(path: string, partitions?: number, cutTo?: readonly number[]): EventLog {
    if (fs.existsSync(topicConfigPath(path)) && partitions === undefined) return EventLog.open(path, { cutTo });
    return EventLog.open(path, { create: { partitions: partitions ?? 1 }, cutTo });
  }

  static open(path: string, options: EventLogOpenOptions = {}): EventLog {
    const { create, cutTo } = options;
    if (create) {
      checkPartitions(create.partitions, `creating log ${path}`);
      if (create.segmentBytes !== undefined) checkSegmentBytes(create.segmentBytes, `creating log ${path}`);
      fs.mkdirSync(path, { recursive: true });
    } else if (readTopicConfig(path) === undefined) {
      throw new RtmlError('RTML_E_LOG', `no log topic at ${path} (no ${path}/topic.json); create it by opening it with create`);
    }
    const lock = WriterLock.acquire(path);
    try {
      let config = readTopicConfig(path);
      if (config === undefined) {
        if (!create) throw new RtmlError('RTML_E_LOG', `${path} is not a log topic: it has no topic.json`);
        config = { version: 1, partitions: create.partitions, segmentBytes: create.segmentBytes ?? DEFAULT_SEGMENT_BYTES };
        writeTopicConfig(path, config);
      } else if (create && create.partitions !== config.partitions) {
        throw new RtmlError('RTML_E_LOG', `log ${path} has ${config.partitions} partitions, but ${create.partitions} were requested; use partitions: ${config.partitions} or another topic`);
      }
      if (cutTo !== undefined && cutTo.length !== config.partitions) {
        throw new RtmlError('RTML_E_CHECKPOINT', `log ${path} has ${config.partitions} partitions, but the checkpoint to resume from knew ${cutTo.length}; delete the checkpoint to start over`);
      }
      cutTo?.forEach((offset, p) => cutPartition(path, p, offset));
      const schemas = SchemaRegistry.load(path);
      const writers: PartitionWriter[] = [];
      const recovered: RecoveredTail[] = [];
      try {
        for (let p = 0; p < config.partitions; p++) {
          const tail = recoverPartition(path, p);
          if (tail.recovered) recovered.push(tail.recovered);
          writers.push(new PartitionWriter(path, p, tail, config.segmentBytes));
        }
      } catch (err) {
        for (const w of writers) w.close();
        throw err;
      }
      return new EventLog(path, config, lock, schemas, writers, recovered);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  get partitions(): number {
    return this.config.partitions;
  }

  /** The partition a keyed record goes to (FNV-1a of the key's UTF-8 bytes mod partitions). */
  partitionFor(key: string): number {
    return partitionFor(key, this.config.partitions);
  }

  /** Registers an Avro schema (or finds its canonical twin) and returns its id (>= 1). */
  registerSchema(schema: SchemaInput): number {
    this.checkOpen();
    return this.schemas.register(schema);
  }

  /** The Avro type of a registered schema id. */
  schema(id: number): Type {
    const type = this.schemas.get(id);
    if (type === undefined) throw new RtmlError('RTML_E_SCHEMA', `log ${this.path} has no schema with id ${id}`);
    return type;
  }

  /**
   * Buffers one record: `payload` is Avro encoded with schema `schemaId`, or UTF-8 JSON with id 0.
   * The partition is `partition` if given, else `partitionFor(key)`, else (null key) round-robin.
   */
  append(key: string | null, timestamp: number, schemaId: number, payload: Uint8Array, partition?: number): AppendResult {
    this.checkOpen();
    if (schemaId !== JSON_SCHEMA_ID && !this.schemas.has(schemaId)) {
      throw new RtmlError('RTML_E_SCHEMA', `log ${this.path} has no schema with id ${schemaId}; register it first`);
    }
    const n = this.config.partitions;
    let p: number;
    if (partition !== undefined) {
      if (!Number.isInteger(partition) || partition < 0 || partition >= n) {
        throw new RtmlError('RTML_E_LOG', `partition ${partition} does not exist in ${this.path} (partitions 0..${n - 1})`);
      }
      p = partition;
    } else if (key !== null) {
      p = partitionFor(key, n);
    } else {
      p = this.roundRobin;
      this.roundRobin = p + 1 === n ? 0 : p + 1;
    }
    const keyBytes = key === null ? -1 : utf8Length(key);
    return { partition: p, offset: this.writers[p]!.append(key, keyBytes, timestamp, schemaId, payload) };
  }

  /** Offset the next record appended to `partition` will get. */
  endOffset(partition: number): number {
    const w = this.writers[partition];
    if (w === undefined) throw new RtmlError('RTML_E_LOG', `partition ${partition} does not exist in ${this.path}`);
    return w.nextOffset;
  }

  /** Bytes buffered across partitions and not yet written. */
  get pendingBytes(): number {
    let n = 0;
    for (const w of this.writers) n += w.pending;
    return n;
  }

  /** Writes all buffered records; with `fsync` (default true) also makes them durable. */
  flush(options: { fsync?: boolean } = {}): void {
    this.checkOpen();
    const fsync = options.fsync ?? true;
    for (const w of this.writers) {
      if (fsync) w.sync();
      else w.write();
    }
  }

  /** Flushes, fsyncs and releases the writer lock. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    let first: unknown;
    for (const w of this.writers) {
      try {
        w.close();
      } catch (err) {
        first ??= err;
      }
    }
    this.lock.release();
    if (first !== undefined) throw first;
  }

  private checkOpen(): void {
    if (this.closed) throw new RtmlError('RTML_E_LOG', `log ${this.path} is closed`);
  }
}
