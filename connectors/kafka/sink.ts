import type { Type } from 'avsc';
import type { LibrdKafkaError, Producer } from '@confluentinc/kafka-javascript';
import { loadSchema } from '../../engine/avro.ts';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { RecordKey, SinkConnector, SinkWriter } from '../../engine/io.ts';
import { kafkaModule } from './client.ts';
import { valueSubject, type SchemaRegistry } from './schemaRegistry.ts';
import { parseKafkaUri } from './uri.ts';
import { encodeWire, LocalSchemaIds } from './wireFormat.ts';

export interface KafkaSinkOptions {
  /** Folders a relative `schema=` path is tried against (default: the working directory). */
  baseDirs?: readonly string[];
  /** With `schema=`: register it in this Confluent Schema Registry (subject `<topic>-value`) and write its id. */
  schemaRegistry?: SchemaRegistry;
}

/**
 * A Kafka topic as a sink (`kafka://host:port[,host:port]/topic[?schema=<file.avsc>]`): an idempotent
 * producer; each result's key is the message key (numbers as decimal text), so Kafka's partitioning
 * by key keeps a key's results in order; the record time is the message timestamp. Values are UTF-8
 * JSON, or Avro in the Confluent wire format with `schema=` (id from LocalSchemaIds, or from the
 * schema registry the schema is registered in at open). Writes are buffered; `handOff` passes
 * them to the producer without waiting for acknowledgements (at most MAX_IN_FLIGHT unacknowledged),
 * `flush` and `close` wait until every one is acknowledged and fail if any delivery failed.
 */
export function kafkaSink(uri: string, options: KafkaSinkOptions = {}): SinkConnector {
  const parsed = parseKafkaUri(uri);
  return {
    uri,
    async open(): Promise<SinkWriter> {
      let type: Type | undefined;
      let schemaId = 0;
      if (parsed.schema !== undefined) {
        type = loadSchema(parsed.schema, options.baseDirs ?? [process.cwd()], uri);
        // Registered before the producer connects, so a refused schema leaves nothing to disconnect.
        schemaId = options.schemaRegistry ? await options.schemaRegistry.register(valueSubject(parsed.topic), type) : LocalSchemaIds.idOf(type);
      }
      // The native producer (half the CPU per message of the KafkaJS-style one); idempotence implies
      // acks=all. linger.ms 1: batches are handed off as the runtime finishes them, so a longer
      // linger only adds latency.
      const producer = new (kafkaModule().Producer)({
        ...parsed.security,
        'bootstrap.servers': parsed.brokers.join(','),
        'enable.idempotence': true,
        // Java's (and the KafkaJS-style producer's) key → partition mapping.
        'partitioner': 'murmur2_random',
        'linger.ms': 1,
        'dr_cb': true,
        'log_level': 0,
      });
      try {
        await new Promise<void>((resolve, reject) => producer.connect({ timeout: parsed.connectTimeoutMs }, (err) => (err ? reject(err) : resolve())));
      } catch (err) {
        await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
        throw new RtmlError('RTML_E_BINDING', `${uri}: cannot connect to kafka ${parsed.brokers.join(',')}: ${errorMessage(err)}`, { cause: err });
      }
      producer.setPollInBackground(true);
      return new KafkaSinkWriter(uri, parsed.topic, producer, type, schemaId);
    },
  };
}

/** Messages handed to the producer and not yet acknowledged, at most (librdkafka queues 100 000). */
const MAX_IN_FLIGHT = 20_000;

interface Pending {
  key: string | null;
  value: Buffer;
  timestamp: number | null;
  /** null: the partitioner's choice by key. */
  partition: number | null;
}

/** A record time as a Kafka message timestamp (none for a time Kafka cannot carry). */
function messageTime(time: number): number | null {
  return Number.isFinite(time) && time >= 0 ? Math.trunc(time) : null;
}

class KafkaSinkWriter implements SinkWriter {
  private buffered: Pending[] = [];
  private bytes = 0;
  private closed = false;
  /** Messages handed to the producer and not yet acknowledged (delivery reported). */
  private inFlight = 0;
  /** Why a delivery failed: every later handOff, flush and close throws it. */
  private failure: unknown;
  /** Calls (handOff, flush) waiting until at most `below` messages are in flight. */
  private waiting: { below: number; resolve: () => void }[] = [];

  constructor(
    private readonly uri: string,
    private readonly topic: string,
    private readonly producer: Producer,
    private readonly type: Type | undefined,
    private readonly schemaId: number,
  ) {
    producer.on('delivery-report', (err) => {
      this.inFlight--;
      if (err) this.failure ??= new RtmlError('RTML_E_PIPELINE', `${uri}: delivering a message to ${topic} failed: ${errorMessage(err)}`, { cause: err });
      if (this.waiting.length > 0) {
        this.waiting = this.waiting.filter((w) => {
          const done = this.inFlight <= w.below || this.failure !== undefined;
          if (done) w.resolve();
          return !done;
        });
      }
    });
  }

  get pending(): number {
    return this.bytes;
  }

  write(value: unknown, key: RecordKey | undefined, time: number): void {
    const bytes = this.encode(value);
    const k = key === undefined ? null : String(key);
    this.buffered.push({ key: k, value: bytes, timestamp: messageTime(time), partition: null });
    this.bytes += bytes.length + (k?.length ?? 0);
  }

  writeTo(partition: number, value: unknown, time: number): void {
    const bytes = this.encode(value);
    this.buffered.push({ key: null, value: bytes, timestamp: messageTime(time), partition });
    this.bytes += bytes.length;
  }

  async handOff(): Promise<void> {
    await this.send();
    await this.settle(MAX_IN_FLIGHT);
  }

  async flush(): Promise<void> {
    await this.send();
    await this.settle(0);
  }

  /** Passes the buffered messages to the producer, in order (idempotence keeps it per partition). */
  private async send(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const messages = this.buffered;
    this.buffered = [];
    this.bytes = 0;
    for (const m of messages) {
      for (;;) {
        try {
          this.producer.produce(this.topic, m.partition, m.value, m.key, m.timestamp);
          break;
        } catch (err) {
          // librdkafka's own queue is full (by bytes, with large messages): wait for acknowledgements.
          if ((err as LibrdKafkaError).code !== kafkaModule().CODES.ERRORS.ERR__QUEUE_FULL) {
            throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: producing to ${this.topic} failed: ${errorMessage(err)}`, { cause: err });
          }
          await this.settle(this.inFlight >> 1);
        }
      }
      this.inFlight++;
    }
  }

  /** Waits until at most `below` messages are unacknowledged; throws if a delivery failed. */
  private async settle(below: number): Promise<void> {
    if (this.inFlight > below && this.failure === undefined) await new Promise<void>((resolve) => this.waiting.push({ below, resolve }));
    if (this.failure !== undefined) throw this.failure;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await new Promise<void>((resolve) => this.producer.disconnect(() => resolve()));
    }
  }

  private encode(value: unknown): Buffer {
    if (this.type !== undefined) {
      try {
        return encodeWire(this.type, this.schemaId, value);
      } catch (err) {
        throw new RtmlError('RTML_E_SCHEMA', `${this.uri}: ${errorMessage(err)}`, { cause: err });
      }
    }
    const text = JSON.stringify(value);
    if (text === undefined) throw new RtmlError('RTML_E_SCHEMA', `${this.uri}: cannot write ${typeof value} as JSON`);
    return Buffer.from(text, 'utf8');
  }
}
