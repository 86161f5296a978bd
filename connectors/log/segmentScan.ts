import fs from 'node:fs';
import { RtmlError } from '../../engine/errors.ts';
import { checkRecord, dataViewOf, recordSize, type StopReason } from './recordFormat.ts';

/** What a full validation of one segment found. */
export interface SegmentScan {
  /** Bytes of valid records from the start of the file (where the first invalid one begins). */
  readonly validBytes: number;
  /** Offset the next record after the valid ones carries (= base + number of valid records). */
  readonly endOffset: number;
  /** Size of the file (or of the scanned prefix, with `limit`). */
  readonly fileBytes: number;
  /** Why the scan stopped before `fileBytes`; undefined when every byte is valid records. */
  readonly stop: StopReason | undefined;
  /** With `stopAfterTime`: true when the scan stopped at a record stamped after it (`endOffset` is that record's). */
  readonly afterTime?: boolean;
}

const CHUNK_BYTES = 1 << 20;

/**
 * Validates the records of a segment whose first record has offset `base`, reading at most `limit`
 * bytes (default: the whole file), in 1 MiB chunks with synchronous reads. Used on open: by the
 * writer to find a torn tail (or, with `stopAtOffset`, where a record begins), by readers to find a
 * partition's end. Without `verifyCrc` it only
 * walks the framing (several times faster; what a bounded reader uses to count records for progress).
 */
export function scanSegment(file: string, base: number, options: { limit?: number; verifyCrc?: boolean; stopAfterTime?: number; stopAtOffset?: number } = {}): SegmentScan {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const stopAtOffset = options.stopAtOffset ?? Number.POSITIVE_INFINITY;
  const verifyCrc = options.verifyCrc ?? true;
  const stopAfterTime = options.stopAfterTime ?? Number.POSITIVE_INFINITY;
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new RtmlError('RTML_E_LOG', `cannot open segment ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    let fileBytes = Math.min(fs.fstatSync(fd).size, limit);
    let buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(fileBytes, 64)));
    let dv = dataViewOf(buf);
    let bufStart = 0; // file position of buf[0]
    let end = 0; // valid bytes in buf
    let pos = 0; // next record in buf
    let offset = base;
    for (;;) {
      if (offset >= stopAtOffset) return { validBytes: bufStart + pos, endOffset: offset, fileBytes, stop: undefined };
      const status = checkRecord(buf, dv, pos, end, offset, verifyCrc);
      if (status === 'ok') {
        // The record's timestamp (recordFormat.ts: f64 at byte 16).
        if (dv.getFloat64(pos + 16, true) > stopAfterTime) return { validBytes: bufStart + pos, endOffset: offset, fileBytes, stop: undefined, afterTime: true };
        pos += recordSize(dv, pos);
        offset++;
        continue;
      }
      const readFrom = bufStart + end;
      const need = end - pos >= 4 ? recordSize(dv, pos) : 4;
      if (status !== 'incomplete' || readFrom >= fileBytes || bufStart + pos + need > fileBytes) {
        const validBytes = bufStart + pos;
        return { validBytes, endOffset: offset, fileBytes, stop: validBytes < fileBytes ? status : undefined };
      }
      // Keep the partial record, then read more after it; grow for a record larger than a chunk.
      const leftover = end - pos;
      if (need > buf.length) {
        const bigger = Buffer.allocUnsafe(need);
        buf.copy(bigger, 0, pos, end);
        buf = bigger;
        dv = dataViewOf(buf);
      } else {
        buf.copyWithin(0, pos, end);
      }
      bufStart += pos;
      pos = 0;
      end = leftover;
      const toRead = Math.min(buf.length - end, fileBytes - readFrom);
      const n = readFully(fd, buf, end, toRead, readFrom);
      end += n;
      // Shorter than its size at open: a writer cut a torn tail meanwhile; the file ends here.
      if (n < toRead) fileBytes = readFrom + n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function readFully(fd: number, buf: Buffer, at: number, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, at + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
