/**
 * CRC-32/IEEE (the zlib/PNG/Ethernet polynomial 0xEDB88320, reflected, init and xor-out 0xFFFFFFFF)
 * over `buf[start, end)`, slice-by-8. It reads the caller's buffer in place and allocates nothing:
 * the log checks one CRC per record on the hot read path, where `zlib.crc32` costs ~4x more per call
 * for small records (native call overhead plus a subarray for the range).
 *
 * `crc32(Buffer.from('123456789'), 0, 9) === 0xcbf43926`
 */

/** Eight 256-entry tables: table k advances the CRC of a byte by k further zero bytes. */
const TABLES = buildTables();

function buildTables(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/**
 * The CRC-32 of `buf[start, end)` as an unsigned 32-bit number. `previous` continues a CRC computed
 * over preceding bytes (default 0: a fresh CRC).
 */
export function crc32(buf: Uint8Array, start: number, end: number, previous = 0): number {
  const t = TABLES;
  let crc = ~previous;
  let i = start;
  const end8 = end - 7;
  for (; i < end8; i += 8) {
    const a = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) ^ crc;
    crc =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^
      t[512 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
