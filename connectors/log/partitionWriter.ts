import fs from 'node:fs';
import { RtmlError } from '../../engine/errors.ts';
import { fsyncDir, partitionDir, segmentPath } from './layout.ts';
import { dataViewOf, HEADER_BYTES, MAX_RECORD_BYTES, writeRecord } from './recordFormat.ts';
import type { PartitionTail } from './recovery.ts';

/** A partition's buffer is written to its segment once it holds this much. */
export const WRITE_THRESHOLD_BYTES = 1 << 20;
const BUFFER_BYTES = WRITE_THRESHOLD_BYTES + (64 << 10);

/**
 * Appends records to one partition: each record is encoded straight into a preallocated buffer, and
 * the buffer goes to the current segment in one write once it passes 1 MiB or on `write()`. Writes
 * are synchronous so that `append` (synchronous, and writing when the buffer fills) and explicit
 * writes stay in order without any queue; a 1 MiB write to the page cache takes well under a
 * millisecond. After a failed write the partition refuses further appends (its file may now have a
 * torn tail, which the next open recovers).
 */
export class PartitionWriter {
  private fd: number;
  private readonly buf = Buffer.allocUnsafe(BUFFER_BYTES);
  private readonly dv = dataViewOf(this.buf);
  private used = 0;
  /** Bytes of the current segment, buffered ones included. */
  private segmentSize: number;
  private unsynced = false;
  private failure: Error | undefined;
  nextOffset: number;

  constructor(
    private readonly topic: string,
    readonly partition: number,
    tail: PartitionTail,
    private readonly segmentBytes: number,
  ) {
    this.fd = fs.openSync(tail.segment.path, 'a');
    this.segmentSize = tail.segmentBytes;
    this.nextOffset = tail.nextOffset;
  }

  /** Bytes buffered and not yet written. */
  get pending(): number {
    return this.used;
  }

  /**
   * Buffers one record and returns its offset. `keyBytes` is the UTF-8 length of `key` (-1 when null),
   * which the caller has already measured.
   */
  append(key: string | null, keyBytes: number, timestamp: number, schemaId: number, payload: Uint8Array): number {
    if (this.failure) throw this.failed();
    const size = HEADER_BYTES + (keyBytes > 0 ? keyBytes : 0) + payload.length;
    if (size > MAX_RECORD_BYTES) {
      throw new RtmlError('RTML_E_LOG', `record of ${size} bytes is too large for the log (max ${MAX_RECORD_BYTES})`);
    }
    if (this.segmentSize > 0 && this.segmentSize + size > this.segmentBytes) this.roll();
    const offset = this.nextOffset;
    if (this.used + size > this.buf.length) {
      this.write();
      if (size > this.buf.length) {
        const big = Buffer.allocUnsafe(size);
        writeRecord(big, dataViewOf(big), 0, offset, timestamp, schemaId, key, keyBytes, payload);
        this.writeOut(big, size);
        this.segmentSize += size;
        this.nextOffset = offset + 1;
        return offset;
      }
    }
    this.used += writeRecord(this.buf, this.dv, this.used, offset, timestamp, schemaId, key, keyBytes, payload);
    this.segmentSize += size;
    this.nextOffset = offset + 1;
    if (this.used >= WRITE_THRESHOLD_BYTES) this.write();
    return offset;
  }

  /** Writes the buffered records to the segment (page cache; see `sync`). */
  write(): void {
    if (this.used === 0) return;
    this.writeOut(this.buf, this.used);
    this.used = 0;
  }

  /** Writes and makes the segment durable (fsync) if anything was written since the last sync. */
  sync(): void {
    this.write();
    if (!this.unsynced) return;
    this.unsynced = false;
    fs.fsyncSync(this.fd);
  }

  close(): void {
    try {
      if (!this.failure) this.sync();
    } finally {
      if (this.fd >= 0) fs.closeSync(this.fd);
      this.fd = -1;
    }
  }

  /** Starts a new segment at `nextOffset`, after making the current one complete on disk. */
  private roll(): void {
    this.sync();
    fs.closeSync(this.fd);
    this.fd = -1;
    const file = segmentPath(this.topic, this.partition, this.nextOffset);
    try {
      this.fd = fs.openSync(file, 'wx');
    } catch (err) {
      this.failure = err as Error;
      throw this.failed();
    }
    fsyncDir(partitionDir(this.topic, this.partition));
    this.segmentSize = 0;
  }

  private writeOut(buf: Buffer, length: number): void {
    try {
      let done = 0;
      while (done < length) done += fs.writeSync(this.fd, buf, done, length - done);
    } catch (err) {
      this.failure = err as Error;
      throw this.failed();
    }
    this.unsynced = true;
  }

  private failed(): RtmlError {
    const reason = this.failure?.message ?? 'unknown error';
    return new RtmlError('RTML_E_LOG', `partition ${this.partition} of ${this.topic} cannot be written: ${reason}; reopen the log to recover`, { cause: this.failure });
  }
}
