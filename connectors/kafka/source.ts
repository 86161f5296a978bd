import type { Type } from 'avsc';
import type { ConsumerGlobalConfig, KafkaConsumer, Message, TopicPartitionOffset } from '@confluentinc/kafka-javascript';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import { InputRecord, type GroupListener, type GroupMembership, type SourceConnector, type SourceOpenOptions, type SourceReader } from '../../engine/io.ts';
import { call, kafkaModule, seconds, sleep, type NativeConsumer } from './client.ts';
import { KafkaGroupMember } from './group.ts';
import { kafkaSink } from './sink.ts';
import { retryWithBackoff } from '../../storage/index.ts';
import { kafkaUriFor, parseKafkaUri, type KafkaUri } from './uri.ts';
import { RegistryWriterSchemas, type SchemaRegistry } from './schemaRegistry.ts';
import { emptyMessage, JSON_PAYLOADS, payloadOf, sourcePayloads, type PayloadFormat } from '../payload.ts';
import type { TransactionalSource } from './transaction.ts';
import { LocalSchemaIds, wirePayloads } from './wireFormat.ts';
import { logLine } from '../../engine/log.ts';

export interface KafkaSourceOptions {
  /** Extra Avro types whose Confluent-wire ids the source should know (the reader schema always is). */
  writerSchemas?: readonly Type[];
  /** Where retry messages go (default stderr). */
  log?: (message: string) => void;
  /** Writer schemas by the ids of this Confluent Schema Registry instead of local ids (--schema-registry). */
  schemaRegistry?: SchemaRegistry;
  /** Scale-out: readers commit through this group member (a repartition exchange's readers). */
  member?: KafkaGroupMember;
}

/**
 * A Kafka topic as a source (`kafka://host:port[,host:port]/topic?group=<id>&schema=<file.avsc>`),
 * one source partition per Kafka partition, offsets being Kafka offsets and each record's timestamp
 * its Kafka timestamp.
 *
 * 1. The partitions are assigned explicitly: all of them, or a scale-out task's one (the group
 *    membership that shares them out among workers is KafkaGroupMember's, see joinGroup); the group
 *    id names the committed offsets. Each partition starts right after the checkpoint's position,
 *    else at the group's committed offset, else at `from` (earliest|latest).
 * 2. Offsets are committed only when the engine says a checkpoint is durable (`committed`), and at
 *    the end of a completed bounded run; auto-commit is off.
 * 3. Bounded (not following): each partition ends at its high watermark seen at open (with
 *    read_committed, the default: its last stable offset, before any open transaction).
 * 4. Values: with a reader schema, Avro in the Confluent wire format (writer schemas by local id,
 *    see LocalSchemaIds); without, UTF-8 JSON. Undecodable values become error records (dead letters).
 * 5. Messages are fetched in batches into per-partition buffers; a partition whose buffer is full is
 *    paused until it drains.
 * 6. An unreachable cluster at open is retried with backoff (logged) for `connect-timeout` (60 s).
 * 7. `isolation=read_committed` (the default, librdkafka's): records of open and aborted
 *    transactions are not read; with `rtml run --exactly-once` the offsets go into the sinks'
 *    transaction (transactionOffsets).
 */
export function kafkaSource(uri: string, options: KafkaSourceOptions = {}): SourceConnector {
  const parsed = parseKafkaUri(uri);
  let member = options.member;
  return {
    uri,
    open: (openOptions: SourceOpenOptions) => KafkaSourceReader.open(uri, parsed, openOptions, options, member),
    joinGroup: async (listener: GroupListener): Promise<GroupMembership> => {
      const joined = await KafkaGroupMember.join(parsed, listener, options.log ?? ((m: string) => logLine(m)));
      member = joined;
      const membership: GroupMembership = {
        description: joined.description,
        drained: (partitions) => joined.drained(partitions),
        leave: () => joined.leave(),
        exchange: async (name) => {
          const exchangeUri = kafkaUriFor(parsed, await joined.exchangeTopic(name), parsed.group);
          return { source: kafkaSource(exchangeUri, { ...options, member: joined }), sink: kafkaSink(exchangeUri), partitions: joined.partitionCountAtJoin };
        },
      };
      members.set(membership, joined);
      return membership;
    },
    shareGroup: async (membership: GroupMembership) => {
      const joined = members.get(membership);
      if (joined === undefined) throw new RtmlError('RTML_E_BINDING', `${uri}: scale-out with several sources needs them all on Kafka (${membership.description})`);
      if (parsed.group !== joined.group) throw new RtmlError('RTML_E_BINDING', `${uri}: group ${parsed.group}, but the run's group is ${joined.group}: give every source the same group=`);
      await joined.coPartition(uri, parsed.topic);
      member = joined;
    },
  };
}

/** The Kafka member behind each membership kafkaSource's joinGroup returned (for shareGroup). */
const members = new WeakMap<GroupMembership, KafkaGroupMember>();

const FETCH_BATCH = 2000;
/**
 * How long one consume call of a bounded run waits for the next message. The native consume(n)
 * keeps collecting until n messages or until a message does not come within this: with records
 * trickling in, it holds them back until n have arrived. Live runs take only what is already there
 * (timeout 0) and are woken by the consumer's queue callback instead (see whenReadable).
 */
const FETCH_TIMEOUT_MS = 5;
const BUFFER_HIGH = 20_000;
const REQUEST_TIMEOUT_MS = 5000;
/** How long the first metadata request may take before the cluster counts as unreachable. */
const CONNECT_TIMEOUT_MS = 2000;

/**
 * The timestamp of a partition's newest message (at `high - 1`), NaN if it cannot be read. A
 * consumer of its own: what it fetches must not reach the reader's queue.
 */
async function newestTimestamp(kafka: KafkaUri, partition: number, high: number): Promise<number> {
  const { KafkaConsumer } = kafkaModule();
  const probe = new KafkaConsumer({ ...kafka.security, 'bootstrap.servers': kafka.brokers.join(','), 'group.id': kafka.group, 'enable.auto.commit': false, 'log_level': 0 }, {});
  await call((cb) => probe.connect({ timeout: REQUEST_TIMEOUT_MS }, cb as never));
  try {
    probe.assign([{ topic: kafka.topic, partition, offset: high - 1 }]);
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const [message] = await call<Message[]>((cb) => probe.consume(1, cb as never));
      if (message !== undefined) return message.timestamp ?? Number.NaN;
    }
    return Number.NaN;
  } finally {
    await new Promise<void>((resolve) => probe.disconnect(() => resolve()));
  }
}

class KafkaSourceReader implements SourceReader, TransactionalSource {
  readonly partitions: readonly number[];
  readonly decodesWithReaderSchema: boolean;
  private readonly buffers: InputRecord[][];
  /** Per partition: the offset of the next record to hand out. */
  private readonly next: number[];
  /** Per partition: exclusive end offset (bounded) or Infinity. */
  private readonly end: number[];
  private readonly paused = new Set<number>();
  private readonly schemas = new LocalSchemaIds();
  private fetching: Promise<void> | undefined;
  private fetchError: unknown;
  private readonly total: number;
  private done = 0;
  private readonly toTime: number;
  /** Per partition: messages stamped before this are skipped until the first one that is not (`from` a time, see start). */
  readonly skipBefore: number[] = [];
  private closed = false;
  /** Records may be in the consumer's queue: set by its callback, cleared when a fetch starts. */
  private arrivals = true;
  private readable: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** With a schema registry: writer schemas by registry id (replacing `schemas`). */
  private registry: RegistryWriterSchemas | undefined;
  /** JSON, or Avro in the wire format with writer schemas by local id, or by registry id (see withRegistry). */
  private payloads: PayloadFormat = JSON_PAYLOADS;

  private constructor(
    private readonly uri: string,
    private readonly kafka: KafkaUri,
    private readonly consumer: NativeConsumer,
    private readonly options: SourceOpenOptions,
    partitions: readonly number[],
    start: number[],
    end: number[],
    writerSchemas: readonly Type[],
    /** Scale-out: the group member that commits this task's offsets. */
    private readonly member: KafkaGroupMember | undefined,
  ) {
    this.partitions = partitions;
    // Indexed by partition number (a task reads one partition of many).
    this.buffers = start.map(() => []);
    this.next = start;
    this.end = end;
    const reader = options.readerSchema;
    this.decodesWithReaderSchema = reader !== undefined;
    if (reader !== undefined) this.schemas.add(reader);
    for (const type of writerSchemas) this.schemas.add(type);
    this.payloads = sourcePayloads(reader, (type) => wirePayloads(this.schemas, type));
    const to = options.range?.to;
    this.toTime = to !== undefined && 'time' in to ? to.time : Infinity;
    this.total = options.follow ? 0 : this.partitions.reduce((sum, p) => sum + Math.max(0, end[p]! - start[p]!), 0);
  }

  static async open(uri: string, kafka: KafkaUri, options: SourceOpenOptions, extra: KafkaSourceOptions, member: KafkaGroupMember | undefined): Promise<KafkaSourceReader> {
    const log = extra.log ?? ((m: string) => logLine(m));
    const { KafkaConsumer } = kafkaModule();
    const brokers = kafka.brokers.join(',');
    let reader: KafkaSourceReader | undefined;
    const { consumer, count } = await retryWithBackoff(
      async () => {
        const consumer = new KafkaConsumer({
          ...kafka.security,
          'bootstrap.servers': brokers,
          'group.id': kafka.group,
          'enable.auto.commit': false,
          'enable.auto.offset.store': false,
          'isolation.level': kafka.isolation,
          'socket.connection.setup.timeout.ms': 2000,
          'reconnect.backoff.max.ms': 1000,
          // How long a broker may hold a fetch that finds nothing. Brokers answer as soon as records
          // arrive, so this only sets how often an idle consumer asks (500/s per broker); librdkafka's
          // mock cluster holds it the whole time, so there it adds 0-2 ms per record (10 ms: p50 +5).
          'fetch.wait.max.ms': 2,
          'log_level': 0,
          // Called (via the native client's dispatcher) when the consumer queue goes from empty to
          // non-empty; its KafkaJS consumer waits on the same hook. Not in the type definitions.
          queue_non_empty_cb: () => reader?.arrived(),
        } as ConsumerGlobalConfig, {});
        try {
          const metadata = await call<{ topics: { name: string; partitions: { id: number }[] }[] }>((cb) =>
            consumer.connect({ topic: kafka.topic, timeout: CONNECT_TIMEOUT_MS }, cb as never),
          );
          const topic = metadata.topics.find((t) => t.name === kafka.topic);
          if (topic === undefined || topic.partitions.length === 0) throw new Error(`topic ${kafka.topic} does not exist`);
          return { consumer, count: topic.partitions.length };
        } catch (err) {
          await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
          throw err;
        }
      },
      {
        initialMs: 500,
        maxMs: 5000,
        giveUpAfterMs: kafka.connectTimeoutMs,
        retryable: (err) => (err instanceof RtmlError ? undefined : errorMessage(err)),
        onRetry: ({ reason, delayMs }) => log(`rtml: kafka ${brokers} unreachable (${reason}); retrying in ${seconds(delayMs)}`),
        onRecovered: (failures) => log(`rtml: kafka ${brokers} reachable again after ${failures} retr${failures === 1 ? 'y' : 'ies'}`),
        giveUp: ({ reason, error }) => new RtmlError('RTML_E_BINDING', `${uri}: kafka ${brokers} unreachable for ${seconds(kafka.connectTimeoutMs)} (${reason}); giving up`, { cause: error }),
      },
    );
    // Reachable: what fails from here on is not retried.
    try {
      reader = (await KafkaSourceReader.start(uri, kafka, consumer, options, count, extra.writerSchemas ?? [], member, log)).withRegistry(extra.schemaRegistry);
      return reader;
    } catch (err) {
      await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
      throw err instanceof RtmlError ? err : new RtmlError('RTML_E_BINDING', `${uri}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private static async start(
    uri: string,
    kafka: KafkaUri,
    consumer: KafkaConsumer,
    options: SourceOpenOptions,
    count: number,
    writerSchemas: readonly Type[],
    member: KafkaGroupMember | undefined,
    log: (message: string) => void,
  ): Promise<KafkaSourceReader> {
    const all = Array.from({ length: count }, (_, p) => p);
    const partitions = options.partitions === undefined ? all : all.filter((p) => options.partitions!.includes(p));
    if (options.partitions?.some((p) => !all.includes(p))) {
      throw new RtmlError('RTML_E_BINDING', `${uri}: topic ${kafka.topic} has ${count} partition(s), not partition(s) ${options.partitions.filter((p) => !all.includes(p)).join(', ')}`);
    }
    const topic = kafka.topic;
    // Per-partition arrays below are indexed by partition number; partitions not read stay empty (start = end).
    const marks: { lowOffset: number; highOffset: number }[] = all.map(() => ({ lowOffset: 0, highOffset: 0 }));
    await Promise.all(
      partitions.map(async (p) => {
        marks[p] = await call<{ lowOffset: number; highOffset: number }>((cb) => consumer.queryWatermarkOffsets(topic, p, REQUEST_TIMEOUT_MS, cb as never));
      }),
    );
    const committed = await call<{ partition: number; offset: number }[]>((cb) =>
      consumer.committed(partitions.map((partition) => ({ topic, partition })), REQUEST_TIMEOUT_MS, cb as never),
    );
    const from = options.range?.from;
    let fromTimes: number[] | undefined;
    /** Without an offset lookup by time: each partition is read from its start, skipping what is stamped before `from`. */
    let skipBefore = -Infinity;
    if (from !== undefined && 'time' in from) {
      // A cluster that does not look offsets up by time (librdkafka's mock cluster answers only
      // earliest and latest) fails, leaves partitions unanswered, or says "nothing stamped at or
      // after it" while the newest message is: those partitions are read from their start,
      // skipping what is stamped earlier.
      let found: { partition: number; offset: number }[] = [];
      try {
        found = await call<{ partition: number; offset: number }[]>((cb) =>
          consumer.offsetsForTimes(partitions.map((partition) => ({ topic, partition, offset: from.time })), REQUEST_TIMEOUT_MS, cb as never),
        );
      } catch {
        // answered below, partition by partition
      }
      fromTimes = all.map((p) => marks[p]!.highOffset);
      const scanned: number[] = [];
      for (const p of partitions) {
        const offset = found.find((f) => f.partition === p)?.offset ?? -1;
        const { lowOffset, highOffset } = marks[p]!;
        // An answer outside the partition is none (a partition left unanswered keeps the timestamp asked).
        if (offset >= lowOffset && offset < highOffset) fromTimes[p] = offset;
        else if (highOffset > lowOffset && !((await newestTimestamp(kafka, p, highOffset).catch(() => Number.NaN)) < from.time)) {
          fromTimes[p] = lowOffset;
          scanned.push(p);
        }
      }
      if (scanned.length > 0) {
        skipBefore = from.time;
        log(`rtml: ${uri}: the cluster did not look offsets up by time; reading partition(s) ${scanned.join(', ')} from the start, skipping messages stamped before ${new Date(from.time).toISOString()}`);
      }
    }
    const start = all.map((p) => {
      const { lowOffset, highOffset } = marks[p]!;
      if (!partitions.includes(p)) return 0;
      const last = options.startAfter?.get(p);
      if (last !== undefined) return last + 1;
      if (from !== undefined) return 'offset' in from ? Math.max(from.offset, lowOffset) : fromTimes![p]!;
      const c = committed.find((x) => x.partition === p)?.offset;
      if (c !== undefined && c >= 0) return c;
      return options.from === 'earliest' ? lowOffset : highOffset;
    });
    const to = options.range?.to;
    const end = all.map((p) => {
      if (!partitions.includes(p)) return 0;
      if (options.follow && options.range?.to === undefined) return Infinity;
      const high = marks[p]!.highOffset;
      return to !== undefined && 'offset' in to ? Math.min(high, to.offset + 1) : high;
    });
    consumer.setDefaultConsumeTimeout(options.follow ? 0 : FETCH_TIMEOUT_MS);
    consumer.assign(partitions.filter((p) => start[p]! < end[p]!).map((partition) => ({ topic, partition, offset: start[partition]! })));
    const reader = new KafkaSourceReader(uri, kafka, consumer as NativeConsumer, options, partitions, start, end, writerSchemas, member);
    // Resumed partitions start past `from` already.
    for (const p of partitions) if (options.startAfter?.get(p) === undefined) reader.skipBefore[p] = skipBefore;
    return reader;
  }

  async read(partition: number, max: number): Promise<InputRecord[] | null> {
    const buffer = this.buffers[partition];
    if (buffer === undefined || !this.partitions.includes(partition)) throw new RtmlError('RTML_E_BINDING', `${this.uri} has no partition ${partition}`);
    if (this.fetchError !== undefined) throw this.fetchError;
    if (buffer.length === 0) {
      if (this.next[partition]! >= this.end[partition]!) return null;
      // Live, nothing arrived since the last fetch: wait for the queue callback a little (as a
      // bounded fetch waits for its first message), so a caller that reads in a loop (a bounded run
      // over an exchange topic) does not spin. A run woken by whenReadable never waits here.
      if (this.options.follow && !this.arrivals && this.fetching === undefined) await Promise.race([this.whenReadable(), sleep(FETCH_TIMEOUT_MS)]);
      await this.fetch();
      if (this.fetchError !== undefined) throw this.fetchError;
      if (buffer.length === 0) return this.next[partition]! >= this.end[partition]! ? null : [];
    }
    const out = buffer.length <= max ? buffer.splice(0) : buffer.splice(0, max);
    this.done += out.length;
    if (this.paused.has(partition) && buffer.length < BUFFER_HIGH / 2) {
      this.consumer.resume([{ topic: this.kafka.topic, partition }]);
      this.paused.delete(partition);
    }
    return out;
  }

  /** One batch from the consumer into the partition buffers (one fetch at a time). */
  private fetch(): Promise<void> {
    this.fetching ??= new Promise<void>((resolve) => {
      this.arrivals = false;
      this.consumer.consume(FETCH_BATCH, (err, messages) => {
        // A full batch may have left more in the queue (no callback for those); an error is news too.
        if (err || messages.length === FETCH_BATCH) this.arrived();
        const done = () => {
          this.fetching = undefined;
          resolve();
        };
        if (err) {
          this.fetchError = new RtmlError('RTML_E_PIPELINE', `${this.uri}: ${errorMessage(err)}`, { cause: err });
          return done();
        }
        // Decoding is synchronous: the registry is asked for the batch's new schema ids first.
        const ready = this.registry?.prepare(messages.map((m) => m.value));
        if (ready === undefined) {
          for (const m of messages) this.accept(m);
          this.skippedTo();
          return done();
        }
        ready
          .then(() => {
            messages.forEach((m) => this.accept(m));
            this.skippedTo();
          })
          .catch((e: unknown) => (this.fetchError = e))
          .finally(done);
      });
    });
    return this.fetching;
  }

  private withRegistry(registry: SchemaRegistry | undefined): this {
    // Registry ids replace local ids entirely: a local id could equal an unrelated registry id.
    // Without a reader schema values are JSON, so there are no ids to resolve.
    const reader = this.options.readerSchema;
    if (registry !== undefined && reader !== undefined) {
      this.registry = new RegistryWriterSchemas(registry);
      this.payloads = wirePayloads(this.registry, reader);
    }
    return this;
  }

  private accept(message: Message): void {
    const p = message.partition;
    const buffer = this.buffers[p];
    // Past the end of a bounded partition, or a duplicate: skip.
    if (buffer === undefined || message.offset < this.next[p]! || this.next[p]! >= this.end[p]!) return;
    const timestamp = message.timestamp ?? Number.NaN;
    if (timestamp > this.toTime) {
      this.end[p] = message.offset;
      return;
    }
    if (this.skipBefore[p]! > -Infinity) {
      if (timestamp < this.skipBefore[p]!) {
        this.next[p] = message.offset + 1;
        return;
      }
      this.skipBefore[p] = -Infinity;
    }
    this.next[p] = message.offset + 1;
    buffer.push(this.decode(message.offset, message.value, timestamp));
    if (this.next[p]! >= this.end[p]! || (buffer.length >= BUFFER_HIGH && !this.paused.has(p))) {
      if (!this.paused.has(p)) {
        this.consumer.pause([{ topic: this.kafka.topic, partition: p }]);
        this.paused.add(p);
      }
    }
  }

  /**
   * Transaction markers (and, read_committed, aborted records) take offsets but are never delivered:
   * the consumer's position passes them, and so does `next`, so a bounded partition whose end is one
   * of them still ends.
   */
  private skippedTo(): void {
    const topic = this.kafka.topic;
    for (const { partition, offset } of this.consumer.position(this.partitions.map((partition) => ({ topic, partition })))) {
      if (offset !== undefined && offset > this.next[partition]! && this.buffers[partition]!.length === 0) this.next[partition] = Math.min(offset, this.end[partition]!);
    }
  }

  transactionOffsets(positions: ReadonlyMap<number, number>, brokers: string): { consumer: KafkaConsumer; offsets: TopicPartitionOffset[] } | undefined {
    if (brokers !== this.kafka.brokers.join(',')) return undefined;
    const offsets = [...positions].map(([partition, last]) => ({ topic: this.kafka.topic, partition, offset: last + 1 }));
    // Scaled out, the group member's consumer: its generation lets the group fence a stale worker's commit.
    return { consumer: this.member?.groupConsumer ?? this.consumer, offsets };
  }

  private decode(offset: number, value: Buffer | null, timestamp: number): InputRecord {
    if (value === null) return emptyMessage(offset, timestamp);
    return this.payloads.decode(payloadOf(value, offset, timestamp));
  }

  async committed(positions: ReadonlyMap<number, number>): Promise<void> {
    if (positions.size === 0 || this.closed) return;
    const offsets = [...positions].map(([partition, last]) => ({ topic: this.kafka.topic, partition, offset: last + 1 }));
    if (this.member) return this.member.commit(offsets);
    await new Promise<void>((resolve, reject) =>
      this.consumer.commitCb(offsets, (err) =>
        err ? reject(new RtmlError('RTML_E_PIPELINE', `${this.uri}: committing offsets for group ${this.kafka.group} failed: ${errorMessage(err)}`, { cause: err })) : resolve(),
      ),
    );
  }

  progress(): { done: number; total: number } | undefined {
    return this.options.follow ? undefined : { done: this.done, total: this.total };
  }

  /** The consumer's queue callback: wakes a live run waiting in whenReadable. */
  arrived(): void {
    this.arrivals = true;
    this.wake?.();
  }

  whenReadable(): Promise<void> {
    if (this.arrivals || this.fetchError !== undefined || this.closed) return Promise.resolve();
    return (this.readable ??= new Promise<void>((resolve) => {
      this.wake = () => {
        this.readable = this.wake = undefined;
        resolve();
      };
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    if (this.fetching) await this.fetching;
    await new Promise<void>((resolve) => this.consumer.disconnect(() => resolve()));
  }
}
