import type { Type } from 'avsc';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
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
 * schema registry the schema is registered in at open). Writes are
 * buffered; `handOff` passes them to the producer without waiting for acknowledgements (at most
 * MAX_IN_FLIGHT unacknowledged), `flush` and `close` wait until every one is acknowledged and fail
 * if any delivery failed.
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
      const { Kafka, logLevel } = kafkaModule().KafkaJS;
      const producer = new Kafka({ kafkaJS: { brokers: parsed.brokers, logLevel: logLevel.ERROR } }).producer({
        kafkaJS: { idempotent: true, acks: -1 },
        'linger.ms': 5,
      });
      try {
        await producer.connect();
      } catch (err) {
        throw new RtmlError('RTML_E_BINDING', `${uri}: cannot connect to kafka ${parsed.brokers.join(',')}: ${errorMessage(err)}`, { cause: err });
      }
      return new KafkaSinkWriter(uri, parsed.topic, producer, type, schemaId);
    },
  };
}

/** Messages handed to the producer and not yet acknowledged, at most (librdkafka queues 100 000). */
const MAX_IN_FLIGHT = 20_000;

interface Pending {
  key: string | null;
  value: Buffer;
  timestamp: string | undefined;
}

class KafkaSinkWriter implements SinkWriter {
  private buffered: Pending[] = [];
  private bytes = 0;
  private closed = false;
  /** Sends handed to the producer and not yet acknowledged, oldest first. */
  private readonly sending = new Set<{ messages: number; done: Promise<void> }>();
  private inFlight = 0;
  /** Why a send failed: every later handOff, flush and close throws it. */
  private failure: unknown;

  constructor(
    private readonly uri: string,
    private readonly topic: string,
    private readonly producer: KafkaJS.Producer,
    private readonly type: Type | undefined,
    private readonly schemaId: number,
  ) {}

  get pending(): number {
    return this.bytes;
  }

  write(value: unknown, key: RecordKey | undefined, time: number): void {
    const bytes = this.encode(value);
    const k = key === undefined ? null : String(key);
    this.buffered.push({ key: k, value: bytes, timestamp: Number.isFinite(time) && time >= 0 ? String(Math.trunc(time)) : undefined });
    this.bytes += bytes.length + (k?.length ?? 0);
  }

  async handOff(): Promise<void> {
    this.send();
    while (this.inFlight > MAX_IN_FLIGHT && this.failure === undefined) await this.sending.values().next().value!.done;
    if (this.failure !== undefined) throw this.failure;
  }

  async flush(): Promise<void> {
    this.send();
    await Promise.all([...this.sending].map((s) => s.done));
    if (this.failure !== undefined) throw this.failure;
  }

  /** Passes the buffered messages to the producer (in order: idempotence keeps it per partition). */
  private send(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.buffered.length === 0) return;
    const messages = this.buffered;
    this.buffered = [];
    this.bytes = 0;
    const entry = { messages: messages.length, done: Promise.resolve() };
    entry.done = this.producer
      .send({ topic: this.topic, messages })
      .then(
        () => undefined,
        (err: unknown) => {
          this.failure ??= new RtmlError('RTML_E_PIPELINE', `${this.uri}: producing ${messages.length} message(s) failed: ${errorMessage(err)}`, { cause: err });
        },
      )
      .finally(() => {
        this.sending.delete(entry);
        this.inFlight -= entry.messages;
      });
    this.sending.add(entry);
    this.inFlight += entry.messages;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.producer.disconnect();
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
