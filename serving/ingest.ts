import { loadSchema, schemaDefinition } from '../engine/avro.ts';
import { RtmlError } from '../engine/errors.ts';
import { EventLog, eventEncoder, type EncodedEvent } from '../connectors/log/index.ts';
import { parseUri } from '../connectors/uri.ts';

export interface IngestResult {
  readonly accepted: number;
  readonly rejected: number;
  /** One entry per rejected event: its index in the request and why. */
  readonly errors: readonly { index: number; reason: string }[];
}

/**
 * A topic `POST /events/{source}` appends to, from `--ingest NAME=log:<dir>/<topic>?schema=<file.avsc>&key=<field>[&time=<field>][&partitions=<n>]`.
 * Each event is checked against the Avro schema (the same checks as `rtml produce`); good events
 * are appended, bad ones reported with their index and reason. The answer waits until the appended
 * events are on disk (fsync); the requests of one event-loop turn share one fsync (group commit).
 */
export class IngestTopic {
  private readonly log: EventLog;
  private readonly schemaId: number;
  private readonly encode: (value: unknown) => EncodedEvent;
  private syncing: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly uri: string,
  ) {
    const flag = `--ingest ${name}`;
    const { scheme, path, params } = parseUri(uri, flag);
    if (scheme !== 'log') throw new RtmlError('RTML_E_USAGE', `${flag}: events are appended to the embedded log: use log:<dir>/<topic>?schema=…&key=…, not ${uri}`);
    const schema = params.get('schema');
    const key = params.get('key');
    if (schema === null || key === null) throw new RtmlError('RTML_E_USAGE', `${flag}: name the Avro schema and the key field: ${uri}?schema=<file.avsc>&key=<field>`);
    const partitions = params.get('partitions');
    const type = loadSchema(schema, [process.cwd()], `${flag} schema=${schema}`);
    this.encode = eventEncoder(type, key, params.get('time') ?? undefined, { key: `${flag} key=`, time: `${flag} time=` });
    this.log = EventLog.openOrCreate(path, partitions === null ? undefined : Number(partitions));
    this.schemaId = this.log.registerSchema(schemaDefinition(type));
  }

  /** Appends the good events of `events` and resolves once they are durable. */
  async append(events: readonly unknown[]): Promise<IngestResult> {
    const errors: { index: number; reason: string }[] = [];
    for (let i = 0; i < events.length; i++) {
      const event = this.encode(events[i]);
      if ('reason' in event) errors.push({ index: i, reason: event.reason });
      else this.log.append(event.key, event.time, this.schemaId, event.payload);
    }
    if (errors.length < events.length) await this.sync();
    return { accepted: events.length - errors.length, rejected: errors.length, errors };
  }

  private sync(): Promise<void> {
    return (this.syncing ??= new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        this.syncing = undefined;
        try {
          this.log.flush();
          resolve();
        } catch (err) {
          reject(new RtmlError('RTML_E_LOG', `${this.uri}: events not made durable: ${(err as Error).message}`, { cause: err }));
        }
      }),
    ));
  }

  close(): void {
    this.log.close();
  }
}
