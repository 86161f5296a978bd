import type { Subscriber } from 'rxjs';
import { schemaViolation, timeFieldScale, type AvroType } from '../avro.ts';
import { errorMessage } from '../errors.ts';
import type { InputRecord, SourceReader } from '../io.ts';
import type { SourceOptions } from '../topology.ts';

/** A source as a topology declared it, with the subscribers its events are pushed to. */
export interface DeclaredSource {
  readonly name: string;
  readonly schema: AvroType | undefined;
  readonly outOfOrder: number;
  readonly idleTimeout: number;
  readonly readTime: (event: unknown) => number;
  readonly describeBadTime: (event: unknown) => string;
  /** The event-time field, when the time is one (not a function). */
  readonly timeField: string | undefined;
  readonly subscribers: Subscriber<unknown>[];
}

/**
 * One partition of one source: a batch of records read, with each record's event time worked out
 * when the batch arrives (NaN, with a reason, for a record that goes to the dead-letter output).
 */
export class Lane {
  records: InputRecord[] = [];
  times = new Float64Array(0);
  reasons = new Map<number, string>();
  pos = 0;
  ended = false;
  retryAt = 0;
  /** Live: its last read found nothing new (it is at the end of its partition for now). */
  caughtUp = false;
  /** Offset of the last record pushed through the topology: the position a checkpoint saves. */
  lastOffset: number | undefined = undefined;
  /** No declared schema: the time-field scale of the Avro type the last record was decoded to. */
  private scaleType: AvroType | undefined = undefined;
  private scale = 1;

  constructor(
    readonly source: DeclaredSource,
    readonly reader: SourceReader,
    readonly partition: number,
    readonly slot: number,
    readonly validate: boolean,
  ) {}

  get hasRecords(): boolean {
    return this.pos < this.records.length;
  }

  /** Its input has ended: nothing more is read from it. */
  end(): void {
    this.ended = true;
    this.records = [];
    this.pos = 0;
  }

  /** Takes a new batch: validates each record and reads its event time. */
  load(records: InputRecord[]): void {
    this.records = records;
    this.pos = 0;
    this.reasons.clear();
    if (this.times.length < records.length) this.times = new Float64Array(Math.max(records.length, 2 * this.times.length));
    const { source, times, reasons } = this;
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      let reason = record.error;
      // A value decoded (Avro) with the declared schema conforms to it; any other (JSON) is checked.
      if (reason === undefined && this.validate && record.schema !== source.schema) {
        const violation = schemaViolation(source.schema!, record.value);
        if (violation !== undefined) reason = `source '${source.name}': schema ${source.schema!.name ?? ''} mismatch: ${violation}`;
      }
      let time = reason === undefined ? source.readTime(record.value) : Number.NaN;
      // Without a declared schema, the schema the record was decoded with says how its time field
      // is stored (timestamp-micros); with one, readTime already scales by it.
      if (record.schema !== undefined && source.schema === undefined && source.timeField !== undefined) time *= this.timeScale(record.schema);
      if (reason === undefined && !Number.isFinite(time)) reason = source.describeBadTime(record.value);
      if (reason === undefined) times[i] = time;
      else {
        times[i] = Number.NaN;
        reasons.set(i, reason);
      }
    }
  }

  private timeScale(type: AvroType): number {
    if (type !== this.scaleType) {
      this.scaleType = type;
      this.scale = timeFieldScale(type, this.source.timeField!);
    }
    return this.scale;
  }
}

export function timeReader<T>(source: string, time: SourceOptions<T>['time'], scale: number): Pick<DeclaredSource, 'readTime' | 'describeBadTime' | 'timeField'> {
  if (typeof time === 'function') {
    const readTime = (e: unknown): number => {
      try {
        const t = time(e as T);
        return typeof t === 'number' ? t : Number.NaN;
      } catch {
        return Number.NaN;
      }
    };
    const describeBadTime = (e: unknown): string => {
      try {
        return `source '${source}': time function returned ${JSON.stringify(time(e as T))}, not a finite number`;
      } catch (err) {
        return `source '${source}': time function threw: ${errorMessage(err)}`;
      }
    };
    return { readTime, describeBadTime, timeField: undefined };
  }
  const readTime = (e: unknown): number => {
    const t = (e as Record<string, unknown> | null)?.[time];
    return typeof t === 'number' ? t * scale : Number.NaN;
  };
  const describeBadTime = (e: unknown): string => {
    const t = (e as Record<string, unknown> | null)?.[time];
    return `source '${source}': event time field '${time}' is ${t === undefined ? 'missing' : `${JSON.stringify(t)}, not a finite number`}`;
  };
  return { readTime, describeBadTime, timeField: time };
}
