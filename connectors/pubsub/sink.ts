import { PubSub, type Topic } from '@google-cloud/pubsub';
import { loadSchema, schemaViolation, type AvroType } from '../../engine/avro.ts';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { RecordKey, SinkConnector, SinkWriter } from '../../engine/io.ts';
import { connectWithRetry, PROBE_OPTIONS } from './source.ts';
import { parsePubSubUri, type PubSubUri } from './uri.ts';

/**
 * A Pub/Sub topic as a sink (`pubsub://<project>/<topic>`; the topic must exist). Values are
 * published in batches (up to 1000 messages or 10 ms), as JSON (UTF-8) or, with `?schema=<file.avsc>`
 * (looked up from the working directory), Avro binary with that schema. Each message carries the
 * attributes `key` (the result's key, when it has one) and `time` (the record time, epoch ms); with
 * `?ordering=true` the key is also the ordering key, so a subscription with message ordering gets
 * each key's results in order. `pending` counts the bytes published and not yet confirmed; `flush`
 * waits for every publish and throws the first failure; `close` flushes.
 */
export function pubsubSinkConnector(uri: string): SinkConnector {
  const parsed = parsePubSubUri(uri, 'sink');
  return {
    uri,
    async open(): Promise<SinkWriter> {
      const type = parsed.schema === undefined ? undefined : loadSchema(parsed.schema, [process.cwd()], uri);
      const client = new PubSub({ projectId: parsed.project });
      try {
        const probe = client.topic(parsed.name);
        await connectWithRetry(parsed, 'topic', () => probe.getMetadata(PROBE_OPTIONS));
        const topic = client.topic(parsed.name, {
          batching: { maxMessages: 1000, maxMilliseconds: 10 },
          messageOrdering: parsed.ordering,
        });
        return new PubSubSinkWriter(uri, parsed, client, topic, type);
      } catch (err) {
        await client.close().catch(() => {});
        throw err;
      }
    },
  };
}

class PubSubSinkWriter implements SinkWriter {
  private inFlight = new Set<Promise<unknown>>();
  private bytes = 0;
  private failure: unknown;

  constructor(
    private readonly uri: string,
    private readonly parsed: PubSubUri,
    private readonly client: PubSub,
    private readonly topic: Topic,
    private readonly type: AvroType | undefined,
  ) {}

  get pending(): number {
    return this.bytes;
  }

  write(value: unknown, key: RecordKey | undefined, time: number): void {
    const data = this.encode(value);
    const attributes: Record<string, string> = {};
    if (key !== undefined) attributes.key = String(key);
    if (Number.isFinite(time)) attributes.time = String(time);
    const orderingKey = this.parsed.ordering && key !== undefined ? String(key) : undefined;
    const size = data.length;
    this.bytes += size;
    const publish: Promise<unknown> = this.topic
      .publishMessage(orderingKey === undefined ? { data, attributes } : { data, attributes, orderingKey })
      .catch((err: unknown) => {
        this.failure ??= err;
        // A failed publish pauses its ordering key; later writes of the key fail until resumed.
        if (orderingKey !== undefined) this.topic.resumePublishing(orderingKey);
      })
      .finally(() => {
        this.bytes -= size;
        this.inFlight.delete(publish);
      });
    this.inFlight.add(publish);
  }

  async flush(): Promise<void> {
    if (this.inFlight.size > 0) {
      await this.topic.flush().catch((err: unknown) => void (this.failure ??= err));
      await Promise.all([...this.inFlight]);
    }
    if (this.failure !== undefined) {
      const err = this.failure;
      this.failure = undefined;
      throw new RtmlError('RTML_E_BINDING', `${this.uri}: publish failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.client.close();
    }
  }

  private encode(value: unknown): Buffer {
    if (this.type === undefined) {
      const text = JSON.stringify(value);
      if (text === undefined) throw new RtmlError('RTML_E_SCHEMA', `${this.uri}: cannot publish ${typeof value} as JSON`);
      return Buffer.from(text, 'utf8');
    }
    try {
      return this.type.toBuffer(value);
    } catch (err) {
      throw new RtmlError('RTML_E_SCHEMA', `${this.uri}: value does not match schema ${this.type.name ?? this.type.typeName}: ${schemaViolation(this.type, value) ?? errorMessage(err)}`, { cause: err });
    }
  }
}
