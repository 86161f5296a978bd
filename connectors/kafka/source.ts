import type { Type } from 'avsc';
import type { KafkaConsumer, LibrdKafkaError, Message } from '@confluentinc/kafka-javascript';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import { InputRecord, type SourceConnector, type SourceOpenOptions, type SourceReader } from '../../engine/io.ts';
import { kafkaModule, seconds, sleep } from './client.ts';
import { parseKafkaUri, type KafkaUri } from './uri.ts';
import { decodeWire, LocalSchemaIds } from './wireFormat.ts';

export interface KafkaSourceOptions {
  /** Extra Avro types whose Confluent-wire ids the source should know (the reader schema always is). */
  writerSchemas?: readonly Type[];
  /** Where retry messages go (default stderr). */
  log?: (message: string) => void;
}

/**
 * A Kafka topic as a source (`kafka://host:port[,host:port]/topic?group=<id>&schema=<file.avsc>`),
 * one source partition per Kafka partition, offsets being Kafka offsets and each record's timestamp
 * its Kafka timestamp.
 *
 * 1. All partitions of the topic are assigned explicitly (no group rebalancing); the group id is
 *    used only for committed offsets. Each partition starts right after the checkpoint's position,
 *    else at the group's committed offset, else at `from` (earliest|latest).
 * 2. Offsets are committed only when the engine says a checkpoint is durable (`committed`), and at
 *    the end of a completed bounded run; auto-commit is off.
 * 3. Bounded (not following): each partition ends at its high watermark seen at open.
 * 4. Values: with a reader schema, Avro in the Confluent wire format (writer schemas by local id,
 *    see LocalSchemaIds); without, UTF-8 JSON. Undecodable values become error records (dead letters).
 * 5. Messages are fetched in batches into per-partition buffers; a partition whose buffer is full is
 *    paused until it drains.
 * 6. An unreachable cluster at open is retried with backoff (logged) for `connect-timeout` (60 s).
 */
export function kafkaSource(uri: string, options: KafkaSourceOptions = {}): SourceConnector {
  const parsed = parseKafkaUri(uri);
  return {
    uri,
    open: (openOptions: SourceOpenOptions) => KafkaSourceReader.open(uri, parsed, openOptions, options),
  };
}

const FETCH_BATCH = 2000;
/**
 * How long one consume call waits for the next message. The native consume(n) keeps collecting
 * until n messages or until a message does not come within this: with records trickling in, a long
 * timeout holds a live run's records back until n have arrived (100 ms gave ~1 s end-to-end latency).
 */
const FETCH_TIMEOUT_MS = 5;
const BUFFER_HIGH = 20_000;
const REQUEST_TIMEOUT_MS = 5000;
/** How long the first metadata request may take before the cluster counts as unreachable. */
const CONNECT_TIMEOUT_MS = 2000;

function call<T>(fn: (cb: (err: LibrdKafkaError | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

class KafkaSourceReader implements SourceReader {
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
  private closed = false;

  private constructor(
    private readonly uri: string,
    private readonly kafka: KafkaUri,
    private readonly consumer: KafkaConsumer,
    private readonly options: SourceOpenOptions,
    partitionCount: number,
    start: number[],
    end: number[],
    writerSchemas: readonly Type[],
  ) {
    this.partitions = Array.from({ length: partitionCount }, (_, p) => p);
    this.buffers = this.partitions.map(() => []);
    this.next = start;
    this.end = end;
    const reader = options.readerSchema;
    this.decodesWithReaderSchema = reader !== undefined;
    if (reader !== undefined) this.schemas.add(reader);
    for (const type of writerSchemas) this.schemas.add(type);
    const to = options.range?.to;
    this.toTime = to !== undefined && 'time' in to ? to.time : Infinity;
    this.total = options.follow ? 0 : this.partitions.reduce((sum, p) => sum + Math.max(0, end[p]! - start[p]!), 0);
  }

  static async open(uri: string, kafka: KafkaUri, options: SourceOpenOptions, extra: KafkaSourceOptions): Promise<KafkaSourceReader> {
    const log = extra.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    const { KafkaConsumer } = kafkaModule();
    const brokers = kafka.brokers.join(',');
    const deadline = Date.now() + kafka.connectTimeoutMs;
    let delay = 500;
    let failures = 0;
    for (;;) {
      const consumer = new KafkaConsumer({
        'bootstrap.servers': brokers,
        'group.id': kafka.group,
        'enable.auto.commit': false,
        'enable.auto.offset.store': false,
        'socket.connection.setup.timeout.ms': 2000,
        'reconnect.backoff.max.ms': 1000,
        // A live run waits for new records at most this long per fetch (brokers answer sooner when
        // records arrive; librdkafka's mock cluster does not, so its 500 ms default is the latency).
        'fetch.wait.max.ms': 10,
        'log_level': 0,
      }, {});
      try {
        const metadata = await call<{ topics: { name: string; partitions: { id: number }[] }[] }>((cb) =>
          consumer.connect({ topic: kafka.topic, timeout: CONNECT_TIMEOUT_MS }, cb as never),
        );
        const topic = metadata.topics.find((t) => t.name === kafka.topic);
        if (topic === undefined || topic.partitions.length === 0) throw new Error(`topic ${kafka.topic} does not exist`);
        if (failures > 0) log(`rtml: kafka ${brokers} reachable again after ${failures} retr${failures === 1 ? 'y' : 'ies'}`);
        return await KafkaSourceReader.start(uri, kafka, consumer, options, topic.partitions.length, extra.writerSchemas ?? []);
      } catch (err) {
        await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
        if (err instanceof RtmlError) throw err;
        const reason = errorMessage(err);
        if (Date.now() + delay > deadline) {
          throw new RtmlError('RTML_E_BINDING', `${uri}: kafka ${brokers} unreachable for ${seconds(kafka.connectTimeoutMs)} (${reason}); giving up`, { cause: err });
        }
        failures++;
        log(`rtml: kafka ${brokers} unreachable (${reason}); retrying in ${seconds(delay)}`);
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private static async start(uri: string, kafka: KafkaUri, consumer: KafkaConsumer, options: SourceOpenOptions, count: number, writerSchemas: readonly Type[]): Promise<KafkaSourceReader> {
    const partitions = Array.from({ length: count }, (_, p) => p);
    const topic = kafka.topic;
    const marks = await Promise.all(
      partitions.map((p) => call<{ lowOffset: number; highOffset: number }>((cb) => consumer.queryWatermarkOffsets(topic, p, REQUEST_TIMEOUT_MS, cb as never))),
    );
    const committed = await call<{ partition: number; offset: number }[]>((cb) =>
      consumer.committed(partitions.map((partition) => ({ topic, partition })), REQUEST_TIMEOUT_MS, cb as never),
    );
    const from = options.range?.from;
    let fromTimes: number[] | undefined;
    if (from !== undefined && 'time' in from) {
      const found = await call<{ partition: number; offset: number }[]>((cb) =>
        consumer.offsetsForTimes(partitions.map((partition) => ({ topic, partition, offset: from.time })), REQUEST_TIMEOUT_MS, cb as never),
      );
      fromTimes = partitions.map((p) => {
        const o = found.find((f) => f.partition === p)?.offset ?? -1;
        return o < 0 ? marks[p]!.highOffset : o;
      });
    }
    const start = partitions.map((p) => {
      const { lowOffset, highOffset } = marks[p]!;
      const last = options.startAfter?.get(p);
      if (last !== undefined) return last + 1;
      if (from !== undefined) return 'offset' in from ? Math.max(from.offset, lowOffset) : fromTimes![p]!;
      const c = committed.find((x) => x.partition === p)?.offset;
      if (c !== undefined && c >= 0) return c;
      return options.from === 'earliest' ? lowOffset : highOffset;
    });
    const to = options.range?.to;
    const end = partitions.map((p) => {
      if (options.follow && options.range === undefined) return Infinity;
      const high = marks[p]!.highOffset;
      return to !== undefined && 'offset' in to ? Math.min(high, to.offset + 1) : high;
    });
    consumer.setDefaultConsumeTimeout(FETCH_TIMEOUT_MS);
    consumer.assign(partitions.filter((p) => start[p]! < end[p]!).map((partition) => ({ topic, partition, offset: start[partition]! })));
    return new KafkaSourceReader(uri, kafka, consumer, options, count, start, end, writerSchemas);
  }

  async read(partition: number, max: number): Promise<InputRecord[] | null> {
    const buffer = this.buffers[partition];
    if (buffer === undefined) throw new RtmlError('RTML_E_BINDING', `${this.uri} has no partition ${partition}`);
    if (this.fetchError !== undefined) throw this.fetchError;
    if (buffer.length === 0) {
      if (this.next[partition]! >= this.end[partition]!) return null;
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
      this.consumer.consume(FETCH_BATCH, (err, messages) => {
        if (err) this.fetchError = new RtmlError('RTML_E_PIPELINE', `${this.uri}: ${errorMessage(err)}`, { cause: err });
        else for (const m of messages) this.accept(m);
        this.fetching = undefined;
        resolve();
      });
    });
    return this.fetching;
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
    this.next[p] = message.offset + 1;
    buffer.push(this.decode(message.offset, message.value, timestamp));
    if (this.next[p]! >= this.end[p]! || (buffer.length >= BUFFER_HIGH && !this.paused.has(p))) {
      if (!this.paused.has(p)) {
        this.consumer.pause([{ topic: this.kafka.topic, partition: p }]);
        this.paused.add(p);
      }
    }
  }

  private decode(offset: number, value: Buffer | null, timestamp: number): InputRecord {
    if (value === null) return new InputRecord(offset, undefined, 'empty message (null value)', '', timestamp);
    const reader = this.options.readerSchema;
    if (reader !== undefined) {
      const decoded = decodeWire(value, this.schemas, reader);
      return decoded.error === undefined
        ? new InputRecord(offset, decoded.value, undefined, undefined, timestamp)
        : new InputRecord(offset, undefined, decoded.error, value.toString('base64'), timestamp);
    }
    const text = value.toString('utf8');
    try {
      return new InputRecord(offset, JSON.parse(text), undefined, undefined, timestamp);
    } catch (err) {
      return new InputRecord(offset, undefined, `invalid JSON payload: ${errorMessage(err)}`, text, timestamp);
    }
  }

  async committed(positions: ReadonlyMap<number, number>): Promise<void> {
    if (positions.size === 0 || this.closed) return;
    const offsets = [...positions].map(([partition, last]) => ({ topic: this.kafka.topic, partition, offset: last + 1 }));
    try {
      this.consumer.commitSync(offsets);
    } catch (err) {
      throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: committing offsets for group ${this.kafka.group} failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  progress(): { done: number; total: number } | undefined {
    return this.options.follow ? undefined : { done: this.done, total: this.total };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.fetching) await this.fetching;
    await new Promise<void>((resolve) => this.consumer.disconnect(() => resolve()));
  }
}
