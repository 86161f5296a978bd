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
 * 3. Bounded (not following): each partition ends where it ended at open; `progress()` counts records.
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
  /** Values are decoded with (resolved to) the reader schema, so they conform to it. */
  readonly decodesWithReaderSchema = true;
  private readonly cursors: PartitionCursor[];
  private readonly decoder: PayloadDecoder;
  private readonly idle: boolean[];
  private readonly total: number;
  private done = 0;
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
    let total = 0;
    if (!options.follow) for (const p of this.partitions) total += Math.max(0, log.estimatedEndOffset(p) - this.cursors[p]!.offset);
    this.total = total;
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
    if (n === null || (this.pastEnd[partition] && out.length === 0)) return null;
    this.idle[partition] = n === 0;
    this.done += n;
    return out;
  }

  progress(): { done: number; total: number } | undefined {
    return this.options.follow ? undefined : { done: this.done, total: this.total };
  }

  async close(): Promise<void> {
    await Promise.all(this.cursors.map((c) => c.close()));
  }
}
