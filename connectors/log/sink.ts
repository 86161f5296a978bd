import type { Type } from 'avsc';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { RecordKey, SinkConnector, SinkOpenOptions, SinkWriter } from '../../engine/io.ts';
import { EventLog } from './eventLog.ts';
import { JSON_SCHEMA_ID, type SchemaInput } from './schemaRegistry.ts';

export interface LogSinkOptions {
  /** Partitions of a topic the sink creates (default 1); an existing topic must have this many. */
  partitions?: number | undefined;
  /** Avro schema for the values; without one they are written as JSON text (schema id 0). */
  schema?: SchemaInput | undefined;
}

/**
 * A topic of the embedded log as a sink (`log:<dir>/<topic>`), created on open if missing. Each value
 * is appended keyed (string keys, numbers as their decimal text; keyless values round-robin) with the
 * record time as its log timestamp, Avro encoded with `schema` (registered in the topic) or as JSON.
 * A value the schema rejects makes `write` throw RTML_E_SCHEMA naming the bad field. `flush` writes
 * without fsync; `checkpoint` fsyncs and returns each partition's end offset, and a run resuming from
 * that checkpoint cuts the topic back to them (as file sinks are cut back), so the topic ends exactly
 * as after an uninterrupted run; `close` fsyncs and releases the topic's writer lock.
 */
export function logSink(path: string, options: LogSinkOptions = {}): SinkConnector {
  return {
    uri: `log:${path}`,
    async open(openOptions: SinkOpenOptions = {}): Promise<SinkWriter> {
      const log = EventLog.openOrCreate(path, options.partitions, endOffsets(openOptions.resume));
      try {
        const schemaId = options.schema === undefined ? JSON_SCHEMA_ID : log.registerSchema(options.schema);
        return new LogSinkWriter(log, schemaId === JSON_SCHEMA_ID ? undefined : log.schema(schemaId), schemaId);
      } catch (err) {
        log.close();
        throw err;
      }
    },
  };
}

const INITIAL_SCRATCH_BYTES = 4096;

class LogSinkWriter implements SinkWriter {
  readonly appends = true;
  /** Values are encoded here, then copied into the partition buffer by append. */
  private scratch = Buffer.allocUnsafe(INITIAL_SCRATCH_BYTES);

  constructor(
    private readonly log: EventLog,
    private readonly type: Type | undefined,
    private readonly schemaId: number,
  ) {}

  get pending(): number {
    return this.log.pendingBytes;
  }

  write(value: unknown, key: RecordKey | undefined, time: number): void {
    const k = key === undefined ? null : String(key);
    this.log.append(k, time, this.schemaId, this.encode(value));
  }

  async flush(): Promise<void> {
    this.log.flush({ fsync: false });
  }

  /** Each partition's end offset, durable (see logSink). */
  async checkpoint(): Promise<number[]> {
    this.log.flush();
    return Array.from({ length: this.log.partitions }, (_, p) => this.log.endOffset(p));
  }

  async close(): Promise<void> {
    this.log.close();
  }

  private encode(value: unknown): Uint8Array {
    const type = this.type;
    if (type === undefined) {
      const text = JSON.stringify(value);
      if (text === undefined) throw new RtmlError('RTML_E_SCHEMA', `log:${this.log.path}: cannot write ${typeof value} as JSON`);
      return Buffer.from(text, 'utf8');
    }
    for (;;) {
      let end: number;
      try {
        end = type.encode(value, this.scratch, 0);
      } catch (err) {
        throw new RtmlError('RTML_E_SCHEMA', `log:${this.log.path}: value does not match schema ${type.name ?? type.typeName}: ${violation(type, value) ?? errorMessage(err)}`, { cause: err });
      }
      if (end >= 0) return this.scratch.subarray(0, end);
      // avsc returns minus the number of missing bytes when the buffer is too small.
      this.scratch = Buffer.allocUnsafe(Math.max(2 * this.scratch.length, this.scratch.length - end));
    }
  }
}

/** A checkpoint's position of a log sink (LogSinkWriter.checkpoint); undefined when not resuming. */
function endOffsets(resume: unknown): number[] | undefined {
  if (resume === undefined) return undefined;
  if (!Array.isArray(resume) || !resume.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new RtmlError('RTML_E_CHECKPOINT', `the checkpoint's position of this log sink is not a list of offsets (${JSON.stringify(resume)}); delete the checkpoint to start over`);
  }
  return resume as number[];
}

/** The first path in `value` that `type` rejects, as "field 'a.b': expected double, got "x"". */
function violation(type: Type, value: unknown): string | undefined {
  let reason: string | undefined;
  type.isValid(value, {
    errorHook(path: string[], bad: unknown, badType: Type) {
      if (reason !== undefined) return;
      const where = path.length > 0 ? `field '${path.join('.')}'` : 'value';
      reason = `${where}: expected ${badType.branchName ?? badType.typeName}, got ${bad === undefined ? 'nothing' : JSON.stringify(bad)}`;
    },
  });
  return reason;
}
