import type { KafkaConsumer, LibrdKafkaError, TopicPartition, TopicPartitionOffset } from '@confluentinc/kafka-javascript';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { GroupListener } from '../../engine/io.ts';
import { call, kafkaModule, type NativeConsumer } from './client.ts';
import type { KafkaUri } from './uri.ts';

/** librdkafka's rebalance codes (LibrdKafkaError.code). */
const ASSIGN_PARTITIONS = -175;
const REVOKE_PARTITIONS = -174;
/** How long one poll of the member waits: rebalance callbacks are served only while it polls. */
const POLL_MS = 100;
const REQUEST_TIMEOUT_MS = 5000;

/**
 * A worker's membership in a Kafka consumer group (scale-out). It subscribes to the topic so the
 * group coordinator shares the partitions out (cooperative-sticky: a rebalance moves only the
 * partitions that must move), but it reads nothing itself — it pauses what it is given, and each
 * partition's task reads with its own consumer. Because only a member of the current generation may
 * commit a group's offsets, the tasks commit through it.
 *
 * Revocation is what keeps state handoff exact: librdkafka waits for the member's unassign, so the
 * listener stops the revoked tasks and checkpoints them (committing their offsets) before the
 * partitions are released to another worker.
 */
export class KafkaGroupMember {
  readonly description: string;
  private polling: Promise<void> | undefined;
  private closed = false;
  /** Rebalance work is done one event at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  /**
   * Per topic the tasks read (the group's, and co-partitioned ones), per partition: the end offset
   * when the worker joined (what a bounded run must reach).
   */
  private readonly ends = new Map<string, Map<number, number>>();
  /** The repartition() exchange topic, once set up. */
  private exchange: string | undefined;

  private constructor(
    private readonly kafka: KafkaUri,
    private readonly consumer: NativeConsumer,
    private readonly listener: GroupListener,
    private readonly log: (message: string) => void,
  ) {
    this.description = `consumer group ${kafka.group} on ${kafka.topic} (member ${consumer.name})`;
  }

  static async join(kafka: KafkaUri, listener: GroupListener, log: (message: string) => void): Promise<KafkaGroupMember> {
    const { KafkaConsumer } = kafkaModule();
    let member: KafkaGroupMember | undefined;
    const consumer = new KafkaConsumer(
      {
        ...kafka.security,
        'bootstrap.servers': kafka.brokers.join(','),
        'group.id': kafka.group,
        'enable.auto.commit': false,
        'enable.auto.offset.store': false,
        'partition.assignment.strategy': 'cooperative-sticky',
        // A dead worker's partitions move after this long without heartbeats.
        'session.timeout.ms': 6000,
        'heartbeat.interval.ms': 500,
        'log_level': 0,
        rebalance_cb: (err: LibrdKafkaError, assignment: TopicPartition[]) => member?.rebalance(err, assignment),
      },
      {},
    );
    const native = consumer as NativeConsumer;
    await new Promise<void>((resolve, reject) =>
      consumer.connect({ topic: kafka.topic, timeout: kafka.connectTimeoutMs }, (err) =>
        err ? reject(new RtmlError('RTML_E_BINDING', `kafka ${kafka.brokers.join(',')}: cannot join group ${kafka.group}: ${errorMessage(err)}`, { cause: err })) : resolve(),
      ),
    );
    member = new KafkaGroupMember(kafka, native, listener, log);
    member.ends.set(kafka.topic, await member.endOffsets(kafka.topic));
    consumer.setDefaultConsumeTimeout(POLL_MS);
    consumer.subscribe([kafka.topic]);
    member.polling = member.poll();
    return member;
  }

  /** Serves the group protocol's callbacks; the partitions are paused, so no message comes. */
  private async poll(): Promise<void> {
    while (!this.closed) {
      await new Promise<void>((resolve) => this.consumer.consume(1, () => resolve()));
    }
  }

  private rebalance(err: LibrdKafkaError, assignment: TopicPartition[]): void {
    const partitions = assignment.map((a) => a.partition).sort((a, b) => a - b);
    const consumer = this.consumer;
    if (err.code === ASSIGN_PARTITIONS) {
      consumer.incrementalAssign(assignment);
      if (assignment.length > 0) consumer.pause(assignment);
      this.queue = this.queue.then(() => this.listener.assigned(partitions));
    } else if (err.code === REVOKE_PARTITIONS) {
      const lost = consumer.assignmentLost();
      // The partitions stay this member's until incrementalUnassign: first stop and checkpoint their tasks.
      this.queue = this.queue
        .then(() => this.listener.revoked(partitions, lost))
        .catch((e: unknown) => this.log(`rtml: stopping tasks of partitions [${partitions.join(', ')}] failed: ${errorMessage(e)}`))
        .then(() => {
          if (consumer.isConnected()) consumer.incrementalUnassign(assignment);
        });
    } else {
      this.log(`rtml: ${this.description}: rebalance error: ${errorMessage(err)}`);
    }
  }

  /** The member's consumer: a transaction commits a task's offsets with its group metadata (exactly-once). */
  get groupConsumer(): KafkaConsumer {
    return this.consumer;
  }

  /** Commits a task's offsets (the next offset to read, per partition) as this generation's member. */
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    return new Promise((resolve, reject) =>
      this.consumer.commitCb([...offsets], (err) =>
        err ? reject(new RtmlError('RTML_E_PIPELINE', `${this.description}: committing offsets failed: ${errorMessage(err)}`, { cause: err })) : resolve(),
      ),
    );
  }

  private async endOffsets(topic: string): Promise<Map<number, number>> {
    const partitions = Array.from({ length: await this.partitionCount(topic) }, (_, p) => p);
    const ends = new Map<number, number>();
    for (const p of partitions) ends.set(p, await this.highOffset(topic, p));
    return ends;
  }

  private async highOffset(topic: string, partition: number): Promise<number> {
    return (await call<{ highOffset: number }>((cb) => this.consumer.queryWatermarkOffsets(topic, partition, REQUEST_TIMEOUT_MS, cb as never))).highOffset;
  }

  /**
   * Another source topic whose partition p the task of partition p reads too (co-partitioned: as
   * many partitions, keyed alike). Its offsets are committed through this member.
   */
  async coPartition(uri: string, topic: string): Promise<void> {
    const ends = await this.endOffsets(topic);
    if (ends.size !== this.partitionCountAtJoin) {
      throw new RtmlError('RTML_E_BINDING', `${uri}: scale-out reads co-partitioned sources, but topic ${topic} has ${ends.size} partition(s) and the group's ${this.kafka.topic} ${this.partitionCountAtJoin}`);
    }
    this.ends.set(topic, ends);
  }

  /**
   * The exchange topic `<group>-<name>` with as many partitions as the source topic: created if
   * missing, refused if it has another count (keys would land in the wrong tasks).
   */
  async exchangeTopic(name: string): Promise<string> {
    const topic = `${this.kafka.group}-${name}`;
    const partitions = this.partitionCountAtJoin;
    let found = await this.partitionCount(topic);
    if (found === 0) {
      const { Kafka, logLevel } = kafkaModule().KafkaJS;
      const admin = new Kafka({ kafkaJS: { brokers: this.kafka.brokers, logLevel: logLevel.NOTHING } }).admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], timeout: REQUEST_TIMEOUT_MS });
      } catch (err) {
        throw new RtmlError('RTML_E_BINDING', `exchange topic ${topic} does not exist and cannot be created (${errorMessage(err)}): create it with ${partitions} partitions`, { cause: err });
      } finally {
        await admin.disconnect();
      }
      found = await this.partitionCount(topic);
    }
    if (found !== partitions) {
      throw new RtmlError('RTML_E_BINDING', `exchange topic ${topic} has ${found} partition(s); repartition() needs ${partitions}, as many as ${this.kafka.topic} (create it so, or delete it)`);
    }
    this.exchange = topic;
    return topic;
  }

  /** Partitions of `topic` (0 when it does not exist). */
  private async partitionCount(topic: string): Promise<number> {
    const metadata = await call<{ topics: { name: string; partitions: { id: number }[] }[] }>((cb) => this.consumer.getMetadata({ topic, timeout: REQUEST_TIMEOUT_MS }, cb as never));
    return metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
  }

  get group(): string {
    return this.kafka.group;
  }

  /** The source topic's partitions when this worker joined. */
  get partitionCountAtJoin(): number {
    return this.ends.get(this.kafka.topic)!.size;
  }

  /**
   * Whether `partitions` (default all) are done: committed up to where each source topic ended when
   * this worker joined, and their exchange partitions (repartition()) read to their end.
   */
  async drained(partitions: readonly number[] = [...this.ends.get(this.kafka.topic)!.keys()]): Promise<boolean> {
    for (const [topic, ends] of this.ends) {
      const committed = await this.committedOffsets(topic, partitions);
      if (!partitions.every((p) => (ends.get(p) ?? 0) === 0 || committed[p]! >= ends.get(p)!)) return false;
    }
    if (this.exchange === undefined) return true;
    const read = await this.committedOffsets(this.exchange, partitions);
    for (const p of partitions) {
      const high = await this.highOffset(this.exchange, p);
      if (high > 0 && read[p]! < high) return false;
    }
    return true;
  }

  /** The group's committed offsets of `topic`, by partition (-1 for none). */
  private async committedOffsets(topic: string, partitions: readonly number[]): Promise<number[]> {
    const offsets = await call<TopicPartitionOffset[]>((cb) => this.consumer.committed(partitions.map((partition) => ({ topic, partition })), REQUEST_TIMEOUT_MS, cb as never));
    const out: number[] = [];
    for (const p of partitions) out[p] = offsets.find((o) => o.partition === p)?.offset ?? -1;
    return out;
  }

  async leave(): Promise<void> {
    if (this.closed) return;
    // Unsubscribing revokes every partition through the listener (tasks checkpoint) before we go.
    this.consumer.unsubscribe();
    const deadline = Date.now() + 30_000;
    while (this.consumer.assignments().length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.queue;
    this.closed = true;
    await this.polling;
    await new Promise<void>((resolve) => this.consumer.disconnect(() => resolve()));
  }
}
