import { crc32 } from './crc32.ts';

/**
 * The binary layout of one log record (all little-endian), records one after another in a segment:
 *
 *   0  u32 length     bytes after this field (28 + key bytes + payload bytes)
 *   4  u32 crc32      CRC-32/IEEE of every byte after this field
 *   8  u32 offsetLo   record offset in its partition, low 32 bits
 *  12  u32 offsetHi   high bits
 *  16  f64 timestamp  event time, epoch ms
 *  24  u32 schemaId   0 = UTF-8 JSON text, else an id under `<topic>/schemas/`
 *  28  i32 keyLength  -1 = null key
 *  32  key bytes (UTF-8), then payload bytes
 */
export const HEADER_BYTES = 32;
/** Smallest valid value of the length field (a record with empty key and payload). */
export const MIN_LENGTH = HEADER_BYTES - 4;
/** Largest record the format and a Node Buffer comfortably allow (length field + 4). */
export const MAX_RECORD_BYTES = 0x7fffffff;
export const TWO_POW_32 = 0x100000000;

/** Why a scan stopped before the end of a segment. */
export type StopReason = 'incomplete' | 'crc' | 'offset' | 'length';

/** Result of `checkRecord`: 'ok', or why the bytes at the position are not a deliverable record. */
export type RecordStatus = 'ok' | StopReason;

/** A DataView over exactly `buf`'s bytes: its getters are several times faster than Buffer's. */
export function dataViewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Validates the record starting at `buf[pos]`, with bytes available up to `end`, expected to carry
 * `expectedOffset`; `dv` is `dataViewOf(buf)`. 'incomplete' means more bytes are needed (or a torn
 * tail); the other failures mean the bytes are not a valid record whatever follows. Without
 * `verifyCrc` only the framing (lengths, offset) is checked: a quick walk for estimates.
 */
export function checkRecord(buf: Buffer, dv: DataView, pos: number, end: number, expectedOffset: number, verifyCrc = true): RecordStatus {
  if (end - pos < 4) return 'incomplete';
  const length = dv.getUint32(pos, true);
  if (length < MIN_LENGTH || length > MAX_RECORD_BYTES - 4) return 'length';
  if (end - pos - 4 < length) return 'incomplete';
  if (verifyCrc && crc32(buf, pos + 8, pos + 4 + length) !== dv.getUint32(pos + 4, true)) return 'crc';
  if (dv.getUint32(pos + 8, true) + dv.getUint32(pos + 12, true) * TWO_POW_32 !== expectedOffset) return 'offset';
  const keyLength = dv.getInt32(pos + 28, true);
  if (keyLength < -1 || keyLength > length - MIN_LENGTH) return 'length';
  return 'ok';
}

/** Total size of the record at `pos` (length field included), from its length field. */
export function recordSize(dv: DataView, pos: number): number {
  return dv.getUint32(pos, true) + 4;
}

/**
 * Writes a whole record at `buf[pos]` (the caller made room: `HEADER_BYTES + keyBytes +
 * payload.length`) and returns its size. `keyBytes` is -1 for a null key, else the UTF-8 length of
 * `key`; `dv` is `dataViewOf(buf)`.
 */
export function writeRecord(
  buf: Buffer,
  dv: DataView,
  pos: number,
  offset: number,
  timestamp: number,
  schemaId: number,
  key: string | null,
  keyBytes: number,
  payload: Uint8Array,
): number {
  const keyEnd = pos + HEADER_BYTES + (keyBytes > 0 ? keyBytes : 0);
  const size = keyEnd - pos + payload.length;
  dv.setUint32(pos, size - 4, true);
  dv.setUint32(pos + 8, offset % TWO_POW_32, true);
  dv.setUint32(pos + 12, Math.floor(offset / TWO_POW_32), true);
  dv.setFloat64(pos + 16, timestamp, true);
  dv.setUint32(pos + 24, schemaId, true);
  dv.setInt32(pos + 28, keyBytes, true);
  if (key !== null && keyBytes > 0) writeKey(buf, pos + HEADER_BYTES, key, keyBytes);
  buf.set(payload, keyEnd);
  dv.setUint32(pos + 4, crc32(buf, pos + 8, pos + size), true);
  return size;
}

/** UTF-8 length of `key`; a JS loop beats `Buffer.byteLength` for the short keys records carry. */
export function utf8Length(key: string): number {
  const n = key.length;
  if (n > 64) return Buffer.byteLength(key, 'utf8');
  for (let i = 0; i < n; i++) if (key.charCodeAt(i) >= 0x80) return Buffer.byteLength(key, 'utf8');
  return n;
}

function writeKey(buf: Buffer, at: number, key: string, keyBytes: number): void {
  if (keyBytes !== key.length || keyBytes > 64) {
    buf.write(key, at, keyBytes, 'utf8');
    return;
  }
  for (let i = 0; i < keyBytes; i++) buf[at + i] = key.charCodeAt(i);
}

/**
 * A reusable view of one valid record inside a read buffer. Cursors hand the same instance to their
 * callback for every record: read what you need during the call and keep nothing (the buffer is
 * reused for the next chunk).
 */
export class RecordView {
  buf: Buffer = Buffer.alloc(0);
  offset = 0;
  timestamp = 0;
  schemaId = 0;
  /** UTF-8 key length, -1 for a null key. */
  keyLength = -1;
  keyStart = 0;
  payloadStart = 0;
  payloadEnd = 0;

  /** Points the view at the (already checked) record at `buf[pos]`; `dv` is `dataViewOf(buf)`. */
  load(buf: Buffer, dv: DataView, pos: number): void {
    this.buf = buf;
    this.offset = dv.getUint32(pos + 8, true) + dv.getUint32(pos + 12, true) * TWO_POW_32;
    this.timestamp = dv.getFloat64(pos + 16, true);
    this.schemaId = dv.getUint32(pos + 24, true);
    const keyLength = dv.getInt32(pos + 28, true);
    this.keyLength = keyLength;
    this.keyStart = pos + HEADER_BYTES;
    this.payloadStart = this.keyStart + (keyLength > 0 ? keyLength : 0);
    this.payloadEnd = pos + 4 + dv.getUint32(pos, true);
  }

  key(): string | null {
    return this.keyLength < 0 ? null : this.buf.toString('utf8', this.keyStart, this.keyStart + this.keyLength);
  }

  payload(): Buffer {
    return this.buf.subarray(this.payloadStart, this.payloadEnd);
  }
}
