import type { DeliveryReport, LibrdKafkaError, Producer, ProducerGlobalConfig, ProducerTopicConfig } from '@confluentinc/kafka-javascript';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import { kafkaModule } from './client.ts';
import type { KafkaUri } from './uri.ts';

/** Messages handed to the producer and not yet acknowledged, at most (librdkafka queues 100 000). */
export const MAX_IN_FLIGHT = 20_000;

/**
 * What every rtml producer sets: linger.ms 1 (batches are handed off as the runtime finishes them,
 * so a longer linger only adds latency) and Java's key → partition mapping.
 */
export function producerSettings(kafka: KafkaUri): ProducerGlobalConfig & ProducerTopicConfig {
  return {
    ...kafka.security,
    'bootstrap.servers': kafka.brokers.join(','),
    'partitioner': 'murmur2_random',
    'linger.ms': 1,
    'dr_cb': true,
    'log_level': 0,
  };
}

/** One message for `ProducerChannel.send`. */
export interface OutgoingMessage {
  topic: string;
  key: string | null;
  value: Buffer;
  timestamp: number | null;
  /** null: the partitioner's choice by key. */
  partition: number | null;
  /** Handed back with the message's delivery report (ProducerChannel's `delivered`). */
  opaque?: unknown;
}

/**
 * A connected native producer and the messages it has in flight: `send` hands messages over in
 * order (waiting while librdkafka's own queue is full), `settle` waits until at most so many are
 * unacknowledged. A failed delivery fails every later `send` and `settle`. Sinks on one transaction
 * share a channel (connectors/kafka/transaction.ts), so the count is the producer's, not a sink's.
 */
export class ProducerChannel {
  private inFlight = 0;
  /** Why a delivery failed: every later send and settle throws it. */
  private failure: unknown;
  /** Calls waiting until at most `below` messages are in flight. */
  private waiting: { below: number; resolve: () => void }[] = [];

  constructor(
    readonly uri: string,
    readonly producer: Producer,
    /** Called with each acknowledged message that carries an `opaque`. */
    delivered: (report: DeliveryReport) => void = () => {},
  ) {
    producer.on('delivery-report', (err, report) => {
      this.inFlight--;
      if (err) this.failure ??= new RtmlError('RTML_E_PIPELINE', `${uri}: delivering a message to ${report?.topic ?? 'kafka'} failed: ${errorMessage(err)}`, { cause: err });
      else if (report.opaque !== undefined) delivered(report);
      if (this.waiting.length > 0) {
        this.waiting = this.waiting.filter((w) => {
          const done = this.inFlight <= w.below || this.failure !== undefined;
          if (done) w.resolve();
          return !done;
        });
      }
    });
  }

  /** Passes messages to the producer, in order (idempotence keeps it per partition). */
  async send(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    for (const m of messages) {
      for (;;) {
        try {
          this.producer.produce(m.topic, m.partition, m.value, m.key, m.timestamp, m.opaque);
          break;
        } catch (err) {
          // librdkafka's own queue is full (by bytes, with large messages): wait for acknowledgements.
          if ((err as LibrdKafkaError).code !== kafkaModule().CODES.ERRORS.ERR__QUEUE_FULL) {
            throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: producing to ${m.topic} failed: ${errorMessage(err)}`, { cause: err });
          }
          await this.settle(this.inFlight >> 1);
        }
      }
      this.inFlight++;
    }
  }

  /** Waits until at most `below` messages are unacknowledged; throws if a delivery failed. */
  async settle(below: number): Promise<void> {
    if (this.inFlight > below && this.failure === undefined) await new Promise<void>((resolve) => this.waiting.push({ below, resolve }));
    if (this.failure !== undefined) throw this.failure;
  }

  disconnect(): Promise<void> {
    return new Promise<void>((resolve) => this.producer.disconnect(() => resolve()));
  }
}
