import { RtmlError } from '../../engine/errors.ts';
import type { InputRecord, SourceConnector, SourceOpenOptions, SourceReader } from '../../engine/io.ts';
import { LogReader } from './logReader.ts';
import type { PartitionCursor } from './partitionCursor.ts';
import { PayloadDecoder } from './payloadDecoder.ts';
import type { RecordView } from './recordFormat.ts';

/**
 * A topic of the embedded log as a source (`log:<dir>/<topic>`), one source partition per log
 * partition, offsets being log offsets and each record's timestamp its log timestamp.
 *
 * 1. Read-only: it takes no lock, so it can read while a writer appends.
 * 2. Avro payloads are decoded with the topology's reader schema if it declares one, else with the
 *    newest schema registered in the topic; older writer schemas are resolved to it (Avro schema
 *    evolution). Records that cannot be decoded come back as error records (see PayloadDecoder).
 * 3. Bounded (not following): each partition ends where it ended at open; `progress()` counts records
 *    from each partition's start to its end, or to the range's end: `to` as an offset, or for a time
 *    the first record stamped after it (found from the records' timestamps). Records skipped before a
 *    `from` time count in both; a partition that ends counts as done, so a finished range is at 100 %.
 *    A replay `range` starts each partition at an offset or at its first record stamped at or after
 *    a time, and ends it at an offset or before its first record stamped after a time.
 *    Following: `read` returns `[]` when a partition has nothing new, after waiting up to ~25 ms if
 *    no partition had anything in its last read (so an idle follower does not spin).
 */
export function logSource(path: string): SourceConnector {
  return {
    uri: `log:${path}`,
    async open(options: SourceOpenOptions): Promise<SourceReader> {
      return LogSourceReader.open(path, options);
    },
  };
}

class LogSourceReader implements SourceReader {
  readonly partitions: readonly number[];
  // No decodesWithReaderSchema: Avro values are decoded with (resolved to) the reader schema, but JSON
  // payloads (schema id 0) are not, so each record says which schema it was decoded with (InputRecord.schema).
  private readonly cursors: PartitionCursor[];
  private readonly decoder: PayloadDecoder;
  private readonly idle: boolean[];
  /** Per partition: records to read (an estimate for a time range) and records read. */
  private readonly totals: number[];
  private readonly dones: number[];
  /** Replay range: records before fromTime are skipped; a partition ends past toTime or toOffset. */
  private readonly fromTime: number;
  private readonly toTime: number;
  private readonly toOffset: number;
  private readonly started: boolean[];
  private readonly pastEnd: boolean[] = [];

  private constructor(
    private readonly log: LogReader,
    private readonly options: SourceOpenOptions,
  ) {
    const newest = log.schemas.newestId();
    const reader = options.readerSchema ?? (newest === undefined ? undefined : log.schemas.get(newest));
    this.decoder = new PayloadDecoder(log.schemas, reader);
    this.partitions = Array.from({ length: log.partitions }, (_, p) => p);
    // Resuming from a checkpoint: start right after the last record processed.
    const from = options.range?.from;
    const resumeAt = (p: number) => {
      const last = options.startAfter?.get(p);
      if (last !== undefined) return last + 1;
      return from !== undefined && 'offset' in from ? from.offset : options.from;
    };
    const to = options.range?.to;
    this.fromTime = from !== undefined && 'time' in from ? from.time : -Infinity;
    this.toTime = to !== undefined && 'time' in to ? to.time : Infinity;
    this.toOffset = to !== undefined && 'offset' in to ? to.offset : Infinity;
    this.started = this.partitions.map((p) => this.fromTime === -Infinity || options.startAfter?.has(p) === true);
    this.cursors = this.partitions.map((p) => log.cursor(p, { from: resumeAt(p), follow: options.follow }));
    this.idle = this.partitions.map(() => false);
    this.dones = this.partitions.map(() => 0);
    this.totals = this.partitions.map((p) => {
      if (options.follow) return 0;
      let end = Math.min(log.estimatedEndOffset(p), this.toOffset + 1);
      if (this.toTime < Infinity) end = Math.min(end, log.offsetAfterTime(p, this.toTime));
      // A cursor seeking an offset starts at its segment's base and delivers (counts) from the offset.
      const at = resumeAt(p);
      return Math.max(0, end - Math.max(this.cursors[p]!.offset, typeof at === 'number' ? at : -Infinity));
    });
  }

  static open(path: string, options: SourceOpenOptions): LogSourceReader {
    return new LogSourceReader(LogReader.open(path), options);
  }

  async read(partition: number, max: number): Promise<InputRecord[] | null> {
    const cursor = this.cursors[partition];
    if (cursor === undefined) throw new RtmlError('RTML_E_LOG', `log ${this.log.path} has no partition ${partition}`);
    if (this.pastEnd[partition]) return null;
    const out: InputRecord[] = [];
    const decoder = this.decoder;
    const ranged = !this.started[partition] || this.toTime < Infinity || this.toOffset < Infinity;
    const visit = ranged
      ? (record: RecordView): void => {
          if (this.pastEnd[partition]) return;
          if (record.timestamp > this.toTime || record.offset > this.toOffset) {
            this.pastEnd[partition] = true;
            return;
          }
          if (!this.started[partition] && record.timestamp < this.fromTime) return;
          this.started[partition] = true;
          out.push(decoder.decode(record));
        }
      : (record: RecordView): void => {
          out.push(decoder.decode(record));
        };
    const wait = this.options.follow && this.idle.every((idle, p) => idle || p === partition);
    const n = await cursor.read(max, visit, wait);
    // A partition at its end (or past its range) is done, whatever the estimate of its total was.
    if (n === null || this.pastEnd[partition]) this.dones[partition] = this.totals[partition]!;
    else this.dones[partition] = Math.min(this.dones[partition]! + n, this.totals[partition]!);
    if (n === null || (this.pastEnd[partition] && out.length === 0)) return null;
    this.idle[partition] = n === 0;
    return out;
  }

  async rangeEndTimes(): Promise<ReadonlyMap<number, number>> {
    const out = new Map<number, number>();
    if (this.toOffset === Infinity) return out;
    for (const p of this.partitions) {
      if (this.toOffset >= this.log.estimatedEndOffset(p) - 1) {
        out.set(p, Infinity); // the range reaches the log's end: no edge there
        continue;
      }
      let cursor: PartitionCursor;
      try {
        cursor = this.log.cursor(p, { from: this.toOffset, follow: false });
      } catch {
        continue; // the range ends before the partition's records start
      }
      try {
        let time = Number.NaN;
        await cursor.read(1, (record) => (time = record.timestamp));
        if (time === time) out.set(p, time);
      } finally {
        await cursor.close();
      }
    }
    return out;
  }

  progress(): { done: number; total: number } | undefined {
    if (this.options.follow) return undefined;
    let done = 0;
    let total = 0;
    for (const p of this.partitions) {
      done += this.dones[p]!;
      total += this.totals[p]!;
    }
    return { done, total };
  }

  async close(): Promise<void> {
    await Promise.all(this.cursors.map((c) => c.close()));
  }
}
