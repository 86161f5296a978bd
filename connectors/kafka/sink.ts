import type { Type } from 'avsc';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { loadSchema } from '../../engine/avro.ts';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { RecordKey, SinkConnector, SinkWriter } from '../../engine/io.ts';
import { kafkaModule } from './client.ts';
import { parseKafkaUri } from './uri.ts';
import { encodeWire, LocalSchemaIds } from './wireFormat.ts';

export interface KafkaSinkOptions {
  /** Folders a relative `schema=` path is tried against (default: the working directory). */
  baseDirs?: readonly string[];
}

/**
 * A Kafka topic as a sink (`kafka://host:port[,host:port]/topic[?schema=<file.avsc>]`): an idempotent
 * producer; each result's key is the message key (numbers as decimal text), so Kafka's partitioning
 * by key keeps a key's results in order; the record time is the message timestamp. Values are UTF-8
 * JSON, or Avro in the Confluent wire format with `schema=` (id from LocalSchemaIds). Writes are
 * buffered and sent as one batch on `flush`; `close` flushes and disconnects.
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
        schemaId = LocalSchemaIds.idOf(type);
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

interface Pending {
  key: string | null;
  value: Buffer;
  timestamp: string | undefined;
}

class KafkaSinkWriter implements SinkWriter {
  private buffered: Pending[] = [];
  private bytes = 0;
  private closed = false;

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

  async flush(): Promise<void> {
    if (this.buffered.length === 0) return;
    const messages = this.buffered;
    this.buffered = [];
    this.bytes = 0;
    try {
      await this.producer.send({ topic: this.topic, messages });
    } catch (err) {
      throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: producing ${messages.length} message(s) failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
      await this.producer.flush({ timeout: 30_000 });
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
