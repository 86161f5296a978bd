import type { Type } from 'avsc';
import { loadSchema } from '../../engine/avro.ts';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { RecordKey, SinkConnector, SinkOpenOptions, SinkWriter } from '../../engine/io.ts';
import { kafkaModule } from './client.ts';
import { MAX_IN_FLIGHT, ProducerChannel, producerSettings, type OutgoingMessage } from './producer.ts';
import { KafkaTransaction } from './transaction.ts';
import { valueSubject, type SchemaRegistry } from './schemaRegistry.ts';
import { parseKafkaUri } from './uri.ts';
import { encodeWire, LocalSchemaIds } from './wireFormat.ts';

export interface KafkaSinkOptions {
  /** Folders a relative `schema=` path is tried against (default: the working directory). */
  baseDirs?: readonly string[];
  /** With `schema=`: register it in this Confluent Schema Registry (subject `<topic>-value`) and write its id. */
  schemaRegistry?: SchemaRegistry;
  /** Write in transactions committed by checkpoints (`rtml run --exactly-once`; else the URI's `exactly-once=true`). */
  exactlyOnce?: boolean;
}

/**
 * A Kafka topic as a sink (`kafka://host:port[,host:port]/topic[?schema=<file.avsc>]`): an idempotent
 * producer; each result's key is the message key (numbers as decimal text), so Kafka's partitioning
 * by key keeps a key's results in order; the record time is the message timestamp. Values are UTF-8
 * JSON, or Avro in the Confluent wire format with `schema=` (id from LocalSchemaIds, or from the
 * schema registry the schema is registered in at open). Writes are buffered; `handOff` passes
 * them to the producer without waiting for acknowledgements (at most MAX_IN_FLIGHT unacknowledged),
 * `flush` and `close` wait until every one is acknowledged and fail if any delivery failed.
 *
 * Exactly-once (`exactly-once=true`, or the option): the writes go through the run's transactional
 * producer (KafkaTransaction, shared by its sinks on the cluster), committed by checkpoints.
 */
export function kafkaSink(uri: string, options: KafkaSinkOptions = {}): SinkConnector {
  const parsed = parseKafkaUri(uri);
  const exactlyOnce = options.exactlyOnce === true || parsed.exactlyOnce;
  return {
    uri,
    async open(openOptions: SinkOpenOptions = {}): Promise<SinkWriter> {
      let type: Type | undefined;
      let schemaId = 0;
      if (parsed.schema !== undefined) {
        type = loadSchema(parsed.schema, options.baseDirs ?? [process.cwd()], uri);
        // Registered before the producer connects, so a refused schema leaves nothing to disconnect.
        schemaId = options.schemaRegistry ? await options.schemaRegistry.register(valueSubject(parsed.topic), type) : LocalSchemaIds.idOf(type);
      }
      if (exactlyOnce) {
        const transaction = await KafkaTransaction.acquire(uri, parsed, openOptions.writer ?? 'rtml');
        return new KafkaSinkWriter(uri, parsed.topic, transaction.channel, type, schemaId, transaction);
      }
      // The native producer (half the CPU per message of the KafkaJS-style one); idempotence implies acks=all.
      const producer = new (kafkaModule().Producer)({ ...producerSettings(parsed), 'enable.idempotence': true });
      try {
        await new Promise<void>((resolve, reject) => producer.connect({ timeout: parsed.connectTimeoutMs }, (err) => (err ? reject(err) : resolve())));
      } catch (err) {
        await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
        throw new RtmlError('RTML_E_BINDING', `${uri}: cannot connect to kafka ${parsed.brokers.join(',')}: ${errorMessage(err)}`, { cause: err });
      }
      producer.setPollInBackground(true);
      return new KafkaSinkWriter(uri, parsed.topic, new ProducerChannel(uri, producer), type, schemaId, undefined);
    },
    ...(exactlyOnce ? { committedMarker: (marker: unknown, writer: string) => KafkaTransaction.markerCommitted(uri, parsed, writer, marker) } : {}),
  };
}

/** A record time as a Kafka message timestamp (none for a time Kafka cannot carry). */
function messageTime(time: number): number | null {
  return Number.isFinite(time) && time >= 0 ? Math.trunc(time) : null;
}

class KafkaSinkWriter implements SinkWriter {
  private buffered: OutgoingMessage[] = [];
  private bytes = 0;
  private closed = false;

  constructor(
    private readonly uri: string,
    private readonly topic: string,
    private readonly channel: ProducerChannel,
    private readonly type: Type | undefined,
    private readonly schemaId: number,
    /** Exactly-once: the transaction the writes go into. */
    readonly transaction: KafkaTransaction | undefined,
  ) {}

  get pending(): number {
    return this.bytes;
  }

  write(value: unknown, key: RecordKey | undefined, time: number): void {
    const bytes = this.encode(value);
    const k = key === undefined ? null : String(key);
    this.buffered.push({ topic: this.topic, key: k, value: bytes, timestamp: messageTime(time), partition: null });
    this.bytes += bytes.length + (k?.length ?? 0);
  }

  writeTo(partition: number, value: unknown, time: number): void {
    const bytes = this.encode(value);
    this.buffered.push({ topic: this.topic, key: null, value: bytes, timestamp: messageTime(time), partition });
    this.bytes += bytes.length;
  }

  async handOff(): Promise<void> {
    await this.send();
    await this.channel.settle(MAX_IN_FLIGHT);
  }

  async flush(): Promise<void> {
    await this.send();
    await this.channel.settle(0);
  }

  private async send(): Promise<void> {
    const messages = this.buffered;
    this.buffered = [];
    this.bytes = 0;
    await this.channel.send(messages);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.transaction) {
      // What is not committed by now is aborted (a failed or fenced run): never seen by readers of committed data.
      this.buffered = [];
      return this.transaction.release();
    }
    try {
      await this.flush();
    } finally {
      await this.channel.disconnect();
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
