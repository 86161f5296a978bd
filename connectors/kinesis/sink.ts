import { PutRecordsCommand, type KinesisClient, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { loadSchema, schemaViolation, type AvroType } from '../../engine/avro.ts';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { RecordKey, SinkConnector, SinkWriter } from '../../engine/io.ts';
import { kinesisClient } from './client.ts';
import { retryWithBackoff } from '../../storage/index.ts';
import { errorName, parseKinesisUri, type KinesisUri } from './uri.ts';

export interface KinesisSinkOptions {
  /** Folders a relative `schema=` path is tried against (default: the working directory). */
  baseDirs?: readonly string[];
  /** How long a batch's failing records are retried before the sink fails (default 60 s). */
  retryTimeoutMs?: number;
}

/** The partition key of values written without a key. */
export const KEYLESS_PARTITION_KEY = 'rtml';
/** PutRecords limits: records and bytes (data plus partition keys) per call, bytes per record. */
const MAX_BATCH_RECORDS = 500;
const MAX_BATCH_BYTES = 5 * 1024 * 1024;
const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_KEY_CHARS = 256;

/**
 * A Kinesis data stream as a sink (`kinesis://<stream>?region=…[&endpoint=…&schema=<file.avsc>]`).
 * Each value is put with its result key as PartitionKey (numbers as decimal text, at most 256
 * characters: longer keys are cut; keyless values all get KEYLESS_PARTITION_KEY), as JSON (UTF-8)
 * or Avro binary with `schema=`. Writes are buffered and sent with PutRecords (≤ 500 records or
 * 5 MiB per call) on flush; the records a call reports failed (throttling, internal errors) are
 * retried with backoff before anything later is sent, for up to 60 s, then the sink fails.
 */
export function kinesisSink(uri: string, options: KinesisSinkOptions = {}): SinkConnector {
  const parsed = parseKinesisUri(uri);
  return {
    uri,
    async open(): Promise<SinkWriter> {
      const type = parsed.schema === undefined ? undefined : loadSchema(parsed.schema, options.baseDirs ?? [process.cwd()], uri);
      return new KinesisSinkWriter(uri, parsed, kinesisClient(parsed), type, options.retryTimeoutMs ?? 60_000);
    },
  };
}

interface Pending {
  key: string;
  data: Uint8Array;
  bytes: number;
}

class KinesisSinkWriter implements SinkWriter {
  private buffered: Pending[] = [];
  private bytes = 0;
  private closed = false;

  constructor(
    private readonly uri: string,
    private readonly parsed: KinesisUri,
    private readonly client: KinesisClient,
    private readonly type: AvroType | undefined,
    private readonly retryTimeoutMs: number,
  ) {}

  get pending(): number {
    return this.bytes;
  }

  write(value: unknown, key: RecordKey | undefined): void {
    if (this.closed) throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: write after close`);
    const data = this.encode(value);
    const k = key === undefined ? KEYLESS_PARTITION_KEY : String(key).slice(0, MAX_KEY_CHARS) || KEYLESS_PARTITION_KEY;
    const bytes = data.byteLength + Buffer.byteLength(k, 'utf8');
    if (bytes > MAX_RECORD_BYTES) throw new RtmlError('RTML_E_PIPELINE', `${this.uri}: a record of ${bytes} bytes is over the Kinesis limit of 1 MiB (key ${JSON.stringify(k)})`);
    this.buffered.push({ key: k, data, bytes });
    this.bytes += bytes;
  }

  async flush(): Promise<void> {
    while (this.buffered.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.buffered.length && n < MAX_BATCH_RECORDS && bytes + this.buffered[n]!.bytes <= MAX_BATCH_BYTES) bytes += this.buffered[n++]!.bytes;
      await this.put(this.buffered.slice(0, n));
      this.buffered = this.buffered.slice(n);
      this.bytes -= bytes;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      this.client.destroy();
    }
  }

  /** Sends one batch, retrying what fails (only the failed records) until all are in or time is up. */
  private async put(batch: Pending[]): Promise<void> {
    let todo = batch;
    await retryWithBackoff(
      async () => {
        const res = await this.client
          .send(new PutRecordsCommand({ StreamName: this.parsed.stream, Records: todo.map((r) => ({ PartitionKey: r.key, Data: r.data })) }))
          .catch((err: unknown) => {
            const name = errorName(err);
            throw FATAL.has(name) ? new RtmlError('RTML_E_PIPELINE', `${this.uri}: PutRecords failed: ${name}: ${errorMessage(err)}`, { cause: err }) : err;
          });
        if (!res.FailedRecordCount) return;
        const entries: PutRecordsResultEntry[] = res.Records ?? [];
        const failed = todo.filter((_, i) => entries[i]?.ErrorCode !== undefined);
        const first = entries.find((e) => e.ErrorCode !== undefined);
        const why = `${res.FailedRecordCount} of ${todo.length} record(s) failed (${first?.ErrorCode}: ${first?.ErrorMessage ?? ''})`;
        todo = failed;
        if (todo.length > 0) throw new PartlyFailed(why);
      },
      {
        initialMs: 100,
        maxMs: 2_000,
        giveUpAfterMs: this.retryTimeoutMs,
        retryable: (err) => (err instanceof RtmlError ? undefined : err instanceof PartlyFailed ? err.message : `${errorName(err)}: ${errorMessage(err)}`),
        giveUp: ({ reason }) => new RtmlError('RTML_E_PIPELINE', `${this.uri}: PutRecords still failing after ${Math.round(this.retryTimeoutMs / 1000)}s: ${reason}`),
      },
    );
  }

  private encode(value: unknown): Uint8Array {
    const type = this.type;
    if (type !== undefined) {
      try {
        return type.toBuffer(value);
      } catch (err) {
        throw new RtmlError('RTML_E_SCHEMA', `${this.uri}: value does not match schema ${type.name ?? type.typeName}: ${schemaViolation(type, value) ?? errorMessage(err)}`, { cause: err });
      }
    }
    const text = JSON.stringify(value);
    if (text === undefined) throw new RtmlError('RTML_E_SCHEMA', `${this.uri}: cannot write ${typeof value} as JSON`);
    return Buffer.from(text, 'utf8');
  }
}

/** Some records of a PutRecords call were refused: those are sent again. */
class PartlyFailed extends Error {}

/** Errors retrying will not fix. */
const FATAL = new Set(['ResourceNotFoundException', 'AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'InvalidArgumentException', 'ValidationException', 'KMSAccessDeniedException', 'KMSDisabledException', 'KMSNotFoundException']);
