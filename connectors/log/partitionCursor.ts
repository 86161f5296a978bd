import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RtmlError } from '../../engine/errors.ts';
import { listSegmentsAsync, type SegmentRef } from './layout.ts';
import { checkRecord, dataViewOf, RecordView, recordSize } from './recordFormat.ts';

/** Where a cursor starts: a segment, a byte position in it, and the offset of the record there. */
export interface CursorStart {
  readonly segmentIndex: number;
  readonly position: number;
  readonly offset: number;
  /** Records below this offset are validated but not delivered (seeking inside a segment). */
  readonly deliverFrom: number;
}

export interface CursorOptions {
  /** Keep reading appends after the end; else stop at `limitBytes` of the last segment listed. */
  readonly follow: boolean;
  /** Bounded mode: size of the last segment at open; nothing after it is read. */
  readonly limitBytes: number;
  readonly chunkBytes?: number;
  /** Follow mode: the file is re-checked for new data at most this often. */
  readonly pollMs?: number;
}

/** Called once per record; the view and its buffer are only valid during the call. */
export type RecordVisitor = (record: RecordView) => void;

const DEFAULT_CHUNK_BYTES = 1 << 20;
const DEFAULT_POLL_MS = 25;

/**
 * Reads one partition's records in offset order, from segment files read in ~1 MiB chunks with
 * async reads; records are parsed in place, across chunk boundaries, and each is checked (length,
 * CRC-32, offset continuity) before it is handed out.
 *
 * 1. An invalid or incomplete record in the partition's last segment is its current end: a torn tail
 *    or an append in progress. A bounded cursor stops there; a following one re-reads from that record
 *    on its next poll (the writer may have completed it, or cut it off and appended anew).
 * 2. An invalid record in any other segment is corruption: `read` throws RTML_E_LOG.
 * 3. Bounded: the segments and the last one's valid size are those seen at open; later appends are
 *    not read. Following: the file size and the segment list are polled every ~25 ms at the end.
 *
 * One `read` at a time per cursor.
 */
export class PartitionCursor {
  private segments: readonly SegmentRef[];
  private segmentIndex: number;
  private file: fs.promises.FileHandle | undefined;
  private fileSize = 0;
  /** File position of the byte after `buf[end - 1]`. */
  private filePos: number;
  private buf: Buffer;
  private dv: DataView;
  private pos = 0;
  private end = 0;
  private nextOffset: number;
  private readonly deliverFrom: number;
  private readonly view = new RecordView();
  private readonly chunkBytes: number;
  private readonly pollMs: number;
  private lastPoll = Number.NEGATIVE_INFINITY;
  private finished = false;
  private busy = false;
  private closed = false;

  constructor(
    private readonly topic: string,
    readonly partition: number,
    segments: readonly SegmentRef[],
    start: CursorStart,
    private readonly options: CursorOptions,
  ) {
    this.segments = segments;
    this.segmentIndex = start.segmentIndex;
    this.filePos = start.position;
    this.nextOffset = start.offset;
    this.deliverFrom = start.deliverFrom;
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.buf = Buffer.alloc(0);
    this.dv = dataViewOf(this.buf);
  }

  /** Offset of the next record this cursor will validate. */
  get offset(): number {
    return this.nextOffset;
  }

  /**
   * Hands up to `max` next records to `visit`; resolves to how many, 0 when nothing new is available
   * (follow mode), or null once a bounded cursor is past its end. At the end, a following cursor
   * checks the file if it has not for `pollMs`; with `wait` it sleeps until it may check rather than
   * return 0 at once (the caller sets it when no other partition has data either).
   */
  async read(max: number, visit: RecordVisitor, wait = false): Promise<number | null> {
    if (this.finished) return null;
    if (this.busy) throw new RtmlError('RTML_E_LOG', `partition ${this.partition} of ${this.topic} is already being read`);
    if (this.closed) throw new RtmlError('RTML_E_LOG', `reader of ${this.topic} is closed`);
    this.busy = true;
    try {
      const count = await this.readRecords(max, visit, wait);
      return count === 0 && this.finished ? null : count;
    } finally {
      this.busy = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  private async readRecords(max: number, visit: RecordVisitor, wait: boolean): Promise<number> {
    const view = this.view;
    let count = 0;
    let polled = false;
    while (count < max) {
      if (this.file === undefined && !(await this.openSegment())) {
        if (!this.options.follow) {
          this.finished = true;
          break;
        }
        if (polled || !(await this.poll(wait))) break;
        polled = true;
        continue;
      }
      const { buf, dv } = this;
      const status = checkRecord(buf, dv, this.pos, this.end, this.nextOffset);
      if (status === 'ok') {
        if (this.nextOffset >= this.deliverFrom) {
          view.load(buf, dv, this.pos);
          visit(view);
          count++;
        }
        this.pos += recordSize(dv, this.pos);
        this.nextOffset++;
        continue;
      }
      if (status === 'incomplete' && this.filePos < this.fileSize) {
        await this.fill();
        continue;
      }
      if (this.segmentIndex < this.segments.length - 1) {
        if (status === 'incomplete' && this.pos === this.end) {
          await this.nextSegment();
          continue;
        }
        throw this.corruption(status);
      }
      if (!this.options.follow) {
        this.finished = true;
        break;
      }
      if (count > 0 || polled || !(await this.poll(wait))) break;
      polled = true;
    }
    return count;
  }

  /** Opens the current segment; false when the partition has no segment there (yet). */
  private async openSegment(): Promise<boolean> {
    const segment = this.segments[this.segmentIndex];
    if (segment === undefined) return false;
    try {
      this.file = await fs.promises.open(segment.path, 'r');
    } catch (err) {
      throw new RtmlError('RTML_E_LOG', `cannot open segment ${segment.path}: ${(err as Error).message}`, { cause: err });
    }
    const isLast = this.segmentIndex === this.segments.length - 1;
    this.fileSize = isLast && !this.options.follow ? this.options.limitBytes : (await this.file.stat()).size;
    this.pos = 0;
    this.end = 0;
    return true;
  }

  private async nextSegment(): Promise<void> {
    await this.file?.close();
    this.file = undefined;
    this.segmentIndex++;
    const next = this.segments[this.segmentIndex]!;
    if (next.base !== this.nextOffset) {
      throw new RtmlError('RTML_E_LOG', `log ${this.topic} is corrupt: segment ${next.path} starts at offset ${next.base}, but the segment before it ends at offset ${this.nextOffset}`);
    }
    this.filePos = 0;
    await this.openSegment();
  }

  /** Reads the next chunk after the unparsed bytes, growing the buffer for a record larger than it. */
  private async fill(): Promise<void> {
    const leftover = this.end - this.pos;
    const need = leftover >= 4 ? recordSize(this.dv, this.pos) : 4;
    const available = this.fileSize - this.filePos;
    const want = Math.min(Math.max(this.chunkBytes, need), leftover + available);
    let target = this.buf;
    if (want > target.length || (target.length > 4 * this.chunkBytes && want <= this.chunkBytes)) {
      target = Buffer.allocUnsafe(Math.max(want, this.chunkBytes));
      this.buf.copy(target, 0, this.pos, this.end);
    } else if (leftover > 0) {
      target.copyWithin(0, this.pos, this.end);
    }
    const length = Math.min(target.length - leftover, available);
    let n = 0;
    while (n < length) {
      const { bytesRead } = await this.file!.read(target, leftover + n, length - n, this.filePos + n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    // A file shorter than its known size was cut (a writer recovered a torn tail): it ends here.
    if (n < length) this.fileSize = this.filePos + n;
    if (target !== this.buf) {
      this.buf = target;
      this.dv = dataViewOf(target);
    }
    this.pos = 0;
    this.end = leftover + n;
    this.filePos += n;
  }

  /**
   * Follow mode, at the end: drops the unparsed tail (it is re-read from the file: the writer may
   * have completed it, or cut it off and appended other records), then checks for new bytes and new
   * segments. Returns false when it is too early to check and `wait` is off.
   */
  private async poll(wait: boolean): Promise<boolean> {
    const delay = this.lastPoll + this.pollMs - performance.now();
    if (delay > 0) {
      if (!wait) return false;
      await sleep(delay);
    }
    this.lastPoll = performance.now();
    this.filePos -= this.end - this.pos;
    this.end = this.pos;
    if (this.file === undefined) {
      this.segments = await listSegmentsAsync(this.topic, this.partition);
      return true;
    }
    const before = this.fileSize;
    this.fileSize = (await this.file.stat()).size;
    if (this.fileSize > before) return true;
    const segments = await listSegmentsAsync(this.topic, this.partition);
    if (segments.length > this.segments.length) {
      this.segments = segments;
      // The writer completes a segment before it creates the next: its size is now final.
      this.fileSize = (await this.file.stat()).size;
    }
    return true;
  }

  private corruption(status: string): RtmlError {
    const segment = this.segments[this.segmentIndex]!;
    const at = this.filePos - (this.end - this.pos);
    return new RtmlError('RTML_E_LOG', `log ${this.topic} is corrupt: segment ${segment.path} has an invalid record (${status}) at byte ${at}, where offset ${this.nextOffset} was expected, and it is not the last segment`);
  }
}
