import type { DeliveryReport, KafkaConsumer, LibrdKafkaError, Message, Producer, TopicPartitionOffset } from '@confluentinc/kafka-javascript';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { SinkTransaction, SourceOffsets, SourceReader } from '../../engine/io.ts';
import { call, kafkaModule, sleep } from './client.ts';
import { ProducerChannel, producerSettings } from './producer.ts';
import type { KafkaUri } from './uri.ts';

/**
 * The topic where each checkpoint's transaction leaves its marker (one small record, keyed by the
 * transactional id): created with one partition if missing. A marker is only read when a run
 * resumes from a pending checkpoint, to learn whether its transaction was committed.
 */
export const MARKER_TOPIC = 'rtml-checkpoints';

const REQUEST_TIMEOUT_MS = 30_000;
/** How long a run resuming from a pending checkpoint waits for its marker's transaction to be settled. */
const SETTLE_TIMEOUT_MS = 120_000;

/** Where a checkpoint's marker is: saved in the pending checkpoint (SinkTransaction.prepare). */
interface Marker {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly checkpoint: number;
}

/** A source whose consumed offsets a transaction on the same cluster can commit (the Kafka source). */
export interface TransactionalSource {
  /** The consumer whose group the offsets are committed for, and the offsets (the next record of each partition); undefined for another cluster. */
  transactionOffsets(positions: ReadonlyMap<number, number>, brokers: string): { consumer: KafkaConsumer; offsets: TopicPartitionOffset[] } | undefined;
}

function isTransactional(reader: SourceReader): reader is SourceReader & TransactionalSource {
  return typeof (reader as Partial<TransactionalSource>).transactionOffsets === 'function';
}

/** The transactional id of a writer (SinkOpenOptions.writer): a restarted or moved task gets the same one. */
function transactionalId(writer: string): string {
  return `rtml-${writer}`;
}

/** This process's open transactions, by cluster and writer: a run's exactly-once sinks on one cluster share one. */
const opened = new Map<string, Promise<KafkaTransaction>>();

/**
 * A writer's transactional producer (Kafka's exactly-once): its transactional id is the writer's, so
 * `initTransactions` at open fences every earlier producer of the same task (a crashed run's, or a
 * worker's that was paused past its session timeout and lost the task) and aborts its open
 * transaction. From then on the sinks' writes go into a transaction that each checkpoint commits
 * (see SinkTransaction), with a marker naming the checkpoint and the Kafka sources' offsets.
 */
export class KafkaTransaction implements SinkTransaction {
  readonly channel: ProducerChannel;
  private users = 0;
  /** Resolves the marker's delivery report in `prepare`. */
  private markerDelivered: ((report: DeliveryReport) => void) | undefined;

  private constructor(
    private readonly uri: string,
    private readonly kafka: KafkaUri,
    private readonly id: string,
    private readonly producer: Producer,
    /** Its entry in `opened`. */
    private readonly key: string,
  ) {
    this.channel = new ProducerChannel(uri, producer, (report) => this.markerDelivered?.(report));
  }

  /** The transaction of `writer` on the URI's cluster, opened (and its predecessors fenced) on first use. */
  static async acquire(uri: string, kafka: KafkaUri, writer: string): Promise<KafkaTransaction> {
    const key = `${kafka.brokers.join(',')} ${writer}`;
    let opening = opened.get(key);
    if (opening === undefined) {
      opening = KafkaTransaction.open(uri, kafka, transactionalId(writer), key);
      opened.set(key, opening);
      opening.catch(() => opened.delete(key));
    }
    const transaction = await opening;
    transaction.users++;
    return transaction;
  }

  private static async open(uri: string, kafka: KafkaUri, id: string, key: string): Promise<KafkaTransaction> {
    const producer = await initialised(uri, kafka, id);
    try {
      await ensureMarkerTopic(producer, kafka);
      await call<void>((cb) => producer.beginTransaction(cb as never));
    } catch (err) {
      await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
      throw new RtmlError('RTML_E_BINDING', `${uri}: cannot begin a transaction: ${errorMessage(err)}`, { cause: err });
    }
    return new KafkaTransaction(uri, kafka, id, producer, key);
  }

  async prepare(checkpoint: number, sources: readonly SourceOffsets[]): Promise<Marker> {
    const delivered = new Promise<DeliveryReport>((resolve) => (this.markerDelivered = resolve));
    await this.channel.send([{ topic: MARKER_TOPIC, key: this.id, value: Buffer.from(JSON.stringify({ checkpoint })), timestamp: Date.now(), partition: null, opaque: checkpoint }]);
    const brokers = this.kafka.brokers.join(',');
    for (const { reader, positions } of sources) {
      const offsets = isTransactional(reader) ? reader.transactionOffsets(positions, brokers) : undefined;
      if (offsets === undefined || offsets.offsets.length === 0) continue;
      await this.attempt('sending the consumed offsets', () => call<void>((cb) => this.producer.sendOffsetsToTransaction(offsets.offsets, offsets.consumer, REQUEST_TIMEOUT_MS, cb as never)));
    }
    await this.channel.settle(0);
    const report = await delivered;
    this.markerDelivered = undefined;
    return { topic: MARKER_TOPIC, partition: report.partition, offset: report.offset, checkpoint };
  }

  async commit(): Promise<void> {
    await this.attempt('committing', () => call<void>((cb) => this.producer.commitTransaction(REQUEST_TIMEOUT_MS, cb as never)));
    await this.attempt('beginning the next transaction', () => call<void>((cb) => this.producer.beginTransaction(cb as never)));
  }

  /**
   * Runs a transactional call, again while it fails with a retriable error (librdkafka's rule). A
   * transaction that must be aborted is, and the checkpoint fails: the run resumes from the previous
   * one. A fatal error (this producer was fenced) fails it too, naming why.
   */
  private async attempt(what: string, run: () => Promise<void>): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        return await run();
      } catch (err) {
        const e = err as LibrdKafkaError;
        if (e.isRetriable && tries < 10) {
          await sleep(100 * tries);
          continue;
        }
        if (e.isTxnRequiresAbort) await call<void>((cb) => this.producer.abortTransaction(REQUEST_TIMEOUT_MS, cb as never)).catch(() => {});
        throw this.failure(what, err);
      }
    }
  }

  private failure(what: string, err: unknown): RtmlError {
    const e = err as LibrdKafkaError;
    const { ERR__FENCED, ERR_PRODUCER_FENCED, ERR_INVALID_PRODUCER_EPOCH } = kafkaModule().CODES.ERRORS;
    if (e.isFatal || [ERR__FENCED, ERR_PRODUCER_FENCED, ERR_INVALID_PRODUCER_EPOCH].includes(e.code)) {
      return new RtmlError('RTML_E_FENCED', `${this.uri}: transaction ${this.id}: ${what} failed (${errorMessage(err)}): a newer run of this task has fenced it; what it wrote since its last checkpoint is aborted`, { cause: err });
    }
    return new RtmlError('RTML_E_PIPELINE', `${this.uri}: transaction ${this.id}: ${what} failed: ${errorMessage(err)}`, { cause: err });
  }

  /** A sink is done with it; the last one aborts what is not committed (a failed or fenced run) and disconnects. */
  async release(): Promise<void> {
    if (--this.users > 0) return;
    opened.delete(this.key);
    await call<void>((cb) => this.producer.abortTransaction(5000, cb as never)).catch(() => {});
    await this.channel.disconnect();
  }

  /**
   * Resuming from a pending checkpoint (SinkConnector.committedMarker): a producer with the writer's
   * transactional id settles the transaction the crashed run left (aborted if open, completed if it
   * was committing), then the marker's partition is read with read_committed from the marker on:
   * the marker is the first record there exactly when its transaction was committed.
   */
  static async markerCommitted(uri: string, kafka: KafkaUri, writer: string, saved: unknown): Promise<boolean> {
    const marker = saved as Marker;
    if (typeof marker?.offset !== 'number' || typeof marker.partition !== 'number' || typeof marker.topic !== 'string') {
      throw new RtmlError('RTML_E_CHECKPOINT', `${uri}: the pending checkpoint's transaction marker is not one (${JSON.stringify(saved)}); delete the checkpoint to start over`);
    }
    const id = transactionalId(writer);
    const producer = await initialised(uri, kafka, id);
    await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
    const { KafkaConsumer } = kafkaModule();
    const consumer = new KafkaConsumer({ ...kafka.security, 'bootstrap.servers': kafka.brokers.join(','), 'group.id': `${id}-marker`, 'isolation.level': 'read_committed', 'enable.auto.commit': false, 'auto.offset.reset': 'error', 'log_level': 0 }, {});
    await call((cb) => consumer.connect({ timeout: REQUEST_TIMEOUT_MS }, cb as never));
    try {
      const { topic, partition, offset } = marker;
      const deadline = Date.now() + SETTLE_TIMEOUT_MS;
      // The last stable offset passes the marker once its transaction (and any begun before it) is settled.
      for (;;) {
        const { lowOffset, highOffset } = await call<{ lowOffset: number; highOffset: number }>((cb) => consumer.queryWatermarkOffsets(topic, partition, REQUEST_TIMEOUT_MS, cb as never));
        if (lowOffset > offset) throw new RtmlError('RTML_E_CHECKPOINT', `${uri}: the marker of pending checkpoint ${marker.checkpoint} (${topic} partition ${partition} offset ${offset}) is gone (retention): whether its transaction was committed cannot be told; delete the checkpoint to start over`);
        if (highOffset > offset) break;
        if (Date.now() > deadline) throw new RtmlError('RTML_E_CHECKPOINT', `${uri}: the transaction of pending checkpoint ${marker.checkpoint} is still not settled after ${SETTLE_TIMEOUT_MS / 1000} s (${topic} partition ${partition} is stable only up to offset ${highOffset})`);
        await sleep(100);
      }
      consumer.assign([{ topic, partition, offset }]);
      consumer.setDefaultConsumeTimeout(100);
      while (Date.now() < deadline) {
        const [message] = await call<Message[]>((cb) => consumer.consume(1, cb as never));
        if (message !== undefined) return message.offset === offset && message.key?.toString() === id;
        // Nothing delivered and the position past the marker: it was aborted (skipped).
        const [position] = consumer.position([{ topic, partition }]);
        if (position !== undefined && position.offset > offset) return false;
      }
      throw new RtmlError('RTML_E_CHECKPOINT', `${uri}: cannot read the marker of pending checkpoint ${marker.checkpoint} (${topic} partition ${partition} offset ${offset}) within ${SETTLE_TIMEOUT_MS / 1000} s`);
    } finally {
      await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
    }
  }
}

/** A connected transactional producer whose `initTransactions` has fenced its predecessors. */
async function initialised(uri: string, kafka: KafkaUri, id: string): Promise<Producer> {
  const producer = new (kafkaModule().Producer)({ ...producerSettings(kafka), 'transactional.id': id });
  try {
    await call((cb) => producer.connect({ timeout: kafka.connectTimeoutMs }, cb as never));
    producer.setPollInBackground(true);
    await call<void>((cb) => producer.initTransactions(REQUEST_TIMEOUT_MS, cb as never));
    return producer;
  } catch (err) {
    await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
    throw new RtmlError('RTML_E_BINDING', `${uri}: cannot start transactions as ${id} on kafka ${kafka.brokers.join(',')}: ${errorMessage(err)}`, { cause: err });
  }
}

/** The marker topic, created (one partition) if missing. */
async function ensureMarkerTopic(producer: Producer, kafka: KafkaUri): Promise<void> {
  const metadata = await call<{ topics: { name: string; partitions: unknown[] }[] }>((cb) => producer.getMetadata({ topic: MARKER_TOPIC, timeout: REQUEST_TIMEOUT_MS }, cb as never));
  if (metadata.topics.some((t) => t.name === MARKER_TOPIC && t.partitions.length > 0)) return;
  const { AdminClient, CODES } = kafkaModule();
  const admin = AdminClient.create({ ...kafka.security, 'bootstrap.servers': kafka.brokers.join(','), 'log_level': 0 });
  try {
    await new Promise<void>((resolve, reject) =>
      admin.createTopic({ topic: MARKER_TOPIC, num_partitions: 1, replication_factor: -1 }, REQUEST_TIMEOUT_MS, (err) => (err && err.code !== CODES.ERRORS.ERR_TOPIC_ALREADY_EXISTS ? reject(err) : resolve())),
    );
  } catch (err) {
    throw new Error(`the topic ${MARKER_TOPIC}, where checkpoints leave their transaction markers, does not exist and cannot be created (${errorMessage(err)}): create it with one partition`, { cause: err });
  } finally {
    admin.disconnect();
  }
}
