import { createRequire } from 'node:module';
import type * as Kafka from '@confluentinc/kafka-javascript';

/** The native client, loaded lazily (it is a native addon, only needed by runs that use Kafka). */
export type KafkaModule = typeof Kafka;

let loaded: KafkaModule | undefined;

export function kafkaModule(): KafkaModule {
  loaded ??= createRequire(import.meta.url)('@confluentinc/kafka-javascript') as KafkaModule;
  return loaded;
}

/** A node-style call of the native client (callback `(err, value)`) as a promise. */
export function call<T>(fn: (cb: (err: Kafka.LibrdKafkaError | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
}

/** Methods of the native consumer that its type definitions leave out (present in its lib/kafka-consumer.js). */
export interface NativeConsumer extends Kafka.KafkaConsumer {
  /** The client's name (rdkafka#consumer-N), set once connected. */
  readonly name: string;
  incrementalAssign(assignments: Kafka.TopicPartition[]): this;
  incrementalUnassign(assignments: Kafka.TopicPartition[]): this;
  /** Inside a revoke callback: whether the group already gave the partitions away. */
  assignmentLost(): boolean;
  /** Commits and calls back once the broker has answered (commit() does not say; commitSync blocks the loop). */
  commitCb(offsets: Kafka.TopicPartitionOffset[], cb: (err: Kafka.LibrdKafkaError | null) => void): this;
}
