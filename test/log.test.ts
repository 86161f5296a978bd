import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, it, type TestContext } from 'node:test';
import { RtmlError } from '../engine/errors.ts';
import { crc32 } from '../connectors/log/crc32.ts';
import { EventLog } from '../connectors/log/eventLog.ts';
import { listSegments, lockPath } from '../connectors/log/layout.ts';
import { LogReader, type StartPosition } from '../connectors/log/logReader.ts';
import type { PartitionCursor } from '../connectors/log/partitionCursor.ts';
import { partitionFor } from '../connectors/log/partitioner.ts';
import { fnv1a32 } from '../storage/index.ts';

/** A fresh topic path in a temp dir removed after the test. */
function tempTopic(t: TestContext, name = 'topic'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtml-log-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

interface Rec {
  offset: number;
  key: string | null;
  timestamp: number;
  schemaId: number;
  payload: string;
}

/** Reads a cursor until it reports the end (bounded) or has nothing more (follow). */
async function drain(cursor: PartitionCursor, batch = 7): Promise<Rec[]> {
  const out: Rec[] = [];
  for (;;) {
    const n = await cursor.read(batch, (r) => {
      out.push({ offset: r.offset, key: r.key(), timestamp: r.timestamp, schemaId: r.schemaId, payload: r.payload().toString('utf8') });
    });
    if (n === null || n === 0) return out;
  }
}

async function readAll(topic: string, partition: number, from: StartPosition = 'earliest', chunkBytes?: number): Promise<Rec[]> {
  const cursor = LogReader.open(topic).cursor(partition, { from, follow: false, chunkBytes });
  try {
    return await drain(cursor);
  } finally {
    await cursor.close();
  }
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

function lastSegment(topic: string, partition: number): string {
  return listSegments(topic, partition).at(-1)!.path;
}

/** Writes `n` records with keys k0..k(n-1) mod `keys` to a fresh single-partition topic. */
function writeTopic(topic: string, n: number, segmentBytes?: number): void {
  const log = EventLog.open(topic, { create: { partitions: 1, segmentBytes } });
  for (let i = 0; i < n; i++) log.append(`k${i}`, 1000 + i, 0, json({ i }));
  log.close();
}

describe('crc32 and partitioning', () => {
  it('crc32 matches zlib on random buffers and sub-ranges, and the check value', () => {
    assert.equal(crc32(Buffer.from('123456789'), 0, 9), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0), 0, 0), 0);
    for (let n = 0; n < 100; n++) {
      const buf = crypto.randomBytes(n + 5);
      const start = n % 5;
      assert.equal(crc32(buf, start, buf.length - 1), zlib.crc32(buf.subarray(start, buf.length - 1)));
    }
  });

  it('FNV-1a 32 of the UTF-8 bytes, stable known values', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
    const reference = (s: string) => {
      let h = 0x811c9dc5;
      for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
      return h >>> 0;
    };
    for (const s of ['card-1', 'é', '日本語', '😀x', 'a\ud800b', '\udc00', 'x'.repeat(300)]) assert.equal(fnv1a32(s), reference(s), s);
    assert.equal(partitionFor('foobar', 7), 0xbf9cf968 % 7);
  });
});

describe('EventLog writer and LogReader', () => {
  it('appends across partitions and segment rolls and reads everything back in order', async (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 3, segmentBytes: 600 } });
    const expected: Rec[][] = [[], [], []];
    for (let i = 0; i < 400; i++) {
      const key = i % 9 === 0 ? null : `key-${i % 17}`;
      const payload = JSON.stringify({ i, pad: 'x'.repeat(i % 23) });
      const { partition, offset } = log.append(key, 1_700_000_000_000 + i, 0, Buffer.from(payload));
      assert.equal(offset, expected[partition]!.length, 'offsets are contiguous from 0 per partition');
      expected[partition]!.push({ offset, key, timestamp: 1_700_000_000_000 + i, schemaId: 0, payload });
    }
    log.close();

    for (let p = 0; p < 3; p++) {
      const segments = listSegments(topic, p);
      assert.ok(segments.length > 3, `partition ${p} rolled (${segments.length} segments)`);
      for (const s of segments) {
        assert.match(path.basename(s.path), /^\d{20}\.log$/);
        assert.ok(fs.statSync(s.path).size <= 600, 'a segment does not exceed segmentBytes with small records');
      }
      // Each segment is named after the offset of its first record.
      const got = await readAll(topic, p);
      assert.deepEqual(got, expected[p]);
      assert.deepEqual(segments.map((s) => s.base), segments.map((s) => got.find((r) => r.offset === s.base)!.offset));
      // Tiny chunks: records are parsed across chunk boundaries.
      assert.deepEqual(await readAll(topic, p, 'earliest', 10), expected[p]);
    }
    const info = LogReader.open(topic).info();
    assert.deepEqual(
      info.partitions.map((x) => [x.partition, x.startOffset, x.endOffset, x.segments]),
      expected.map((e, p) => [p, 0, e.length, listSegments(topic, p).length]),
    );
    assert.equal(info.partitions[0]!.bytes, listSegments(topic, 0).reduce((n, s) => n + fs.statSync(s.path).size, 0));
  });

  it('writes the documented record layout', (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 1 } });
    log.append('ké', 12.5, 0, Buffer.from('{"a":1}'));
    log.append(null, -3, 0, Buffer.from('[]'));
    log.close();
    const bytes = fs.readFileSync(lastSegment(topic, 0));
    assert.equal(bytes.readUInt32LE(0), 28 + 3 + 7);
    assert.equal(bytes.readUInt32LE(4), zlib.crc32(bytes.subarray(8, 4 + 38)));
    assert.deepEqual([bytes.readUInt32LE(8), bytes.readUInt32LE(12)], [0, 0]);
    assert.equal(bytes.readDoubleLE(16), 12.5);
    assert.equal(bytes.readUInt32LE(24), 0);
    assert.equal(bytes.readInt32LE(28), 3);
    assert.equal(bytes.toString('utf8', 32, 35), 'ké');
    assert.equal(bytes.toString('utf8', 35, 42), '{"a":1}');
    const second = 42;
    assert.equal(bytes.readUInt32LE(second + 8), 1);
    assert.equal(bytes.readInt32LE(second + 28), -1);
    assert.equal(bytes.length, second + 32 + 2);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(topic, 'topic.json'), 'utf8')), { version: 1, partitions: 1, segmentBytes: 128 * 1024 * 1024 });
  });

  it('partitions by key stably (FNV-1a mod N), round-robins null keys, honours an explicit partition', (t) => {
    const topic = tempTopic(t);
    let log = EventLog.open(topic, { create: { partitions: 4 } });
    const first = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const key = `card-${i % 37}`;
      const { partition } = log.append(key, i, 0, json(i));
      assert.equal(partition, partitionFor(key, 4));
      assert.equal(partition, first.get(key) ?? partition);
      first.set(key, partition);
    }
    assert.ok(new Set(first.values()).size > 1, 'keys spread over partitions');
    assert.deepEqual([0, 1, 2, 3, 4].map(() => log.append(null, 0, 0, json(null)).partition), [0, 1, 2, 3, 0]);
    assert.equal(log.append('card-1', 0, 0, json(1), 2).partition, 2);
    assert.throws(() => log.append('x', 0, 0, json(1), 4), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_LOG');
    log.close();
    log = EventLog.open(topic);
    for (const [key, p] of first) assert.equal(log.partitionFor(key), p);
    log.close();
  });

  it('continues offsets after reopening, and handles records larger than the write buffer', async (t) => {
    const topic = tempTopic(t);
    writeTopic(topic, 5);
    const log = EventLog.open(topic);
    assert.equal(log.endOffset(0), 5);
    const big = 'b'.repeat(1_300_000);
    assert.deepEqual(log.append('big', 1, 0, Buffer.from(JSON.stringify(big))), { partition: 0, offset: 5 });
    assert.deepEqual(log.append('after', 2, 0, json('after')), { partition: 0, offset: 6 });
    log.close();
    const got = await readAll(topic, 0, 'earliest', 4096);
    assert.deepEqual(got.map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(JSON.parse(got[5]!.payload), big);
    assert.equal(got[6]!.key, 'after');
  });

  it('starts at the earliest, the latest or a given offset (seeking across segments)', async (t) => {
    const topic = tempTopic(t);
    writeTopic(topic, 60, 300);
    assert.ok(listSegments(topic, 0).length > 4);
    assert.deepEqual((await readAll(topic, 0, 37)).map((r) => r.offset), Array.from({ length: 23 }, (_, i) => 37 + i));
    assert.deepEqual(await readAll(topic, 0, 'latest'), []);
    assert.deepEqual(await readAll(topic, 0, 60), []);
    assert.throws(() => LogReader.open(topic).cursor(0, { from: -1, follow: false }), /at offset -1: its records start at offset 0/);
    assert.throws(() => LogReader.open(topic).cursor(3, { from: 'earliest', follow: false }), /partition 3 does not exist/);
  });
});

describe('torn tails and corruption', () => {
  it('a record cut mid-way is never delivered; the writer truncates it and appends at the right offset', async (t) => {
    const topic = tempTopic(t);
    writeTopic(topic, 10);
    const file = lastSegment(topic, 0);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 5);
    assert.deepEqual((await readAll(topic, 0)).map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(LogReader.open(topic).info().partitions[0]!.endOffset, 9);
    assert.equal(fs.statSync(file).size, size - 5, 'readers never truncate');

    const log = EventLog.open(topic);
    assert.equal(log.recovered.length, 1);
    const [tail] = log.recovered;
    const recordBytes = size / 10;
    assert.deepEqual({ ...tail!, segment: path.basename(tail!.segment) }, {
      partition: 0,
      segment: path.basename(file),
      offset: 9,
      position: size - recordBytes,
      truncatedBytes: recordBytes - 5,
      reason: 'incomplete',
    });
    assert.equal(fs.statSync(file).size, size - recordBytes);
    assert.equal(log.append('new', 1, 0, json('new')).offset, 9);
    log.close();
    const got = await readAll(topic, 0);
    assert.deepEqual(got.map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(got[9]!.key, 'new');
  });

  it('a flipped byte in the last record fails its CRC: not delivered, cut on open', async (t) => {
    const topic = tempTopic(t);
    writeTopic(topic, 10);
    const file = lastSegment(topic, 0);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 2]! ^= 0x10;
    fs.writeFileSync(file, bytes);
    assert.deepEqual((await readAll(topic, 0)).map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8]);

    const log = EventLog.open(topic);
    assert.equal(log.recovered[0]?.reason, 'crc');
    assert.equal(log.recovered[0]?.offset, 9);
    assert.equal(log.append(null, 1, 0, json('fixed')).offset, 9);
    log.close();
    const got = await readAll(topic, 0);
    assert.deepEqual(got.map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(got[9]!.payload, '"fixed"');
  });

  it('a valid record with the wrong offset (a replayed write) ends the partition and is cut on open', async (t) => {
    const topic = tempTopic(t);
    writeTopic(topic, 4);
    const file = lastSegment(topic, 0);
    const bytes = fs.readFileSync(file);
    fs.appendFileSync(file, bytes.subarray(bytes.length - bytes.length / 4));
    assert.deepEqual((await readAll(topic, 0)).map((r) => r.offset), [0, 1, 2, 3]);
    const log = EventLog.open(topic);
    assert.deepEqual([log.recovered[0]?.reason, log.recovered[0]?.offset], ['offset', 4]);
    log.close();
    assert.equal(fs.statSync(file).size, bytes.length);
  });

  it('a clean log reports no recovery; a bad record in an earlier segment is an error, never delivered', async (t) => {
    const topic = tempTopic(t);
    writeTopic(topic, 30, 300);
    const log = EventLog.open(topic);
    assert.deepEqual(log.recovered, []);
    log.close();
    const first = listSegments(topic, 0)[0]!.path;
    const bytes = fs.readFileSync(first);
    bytes[40]! ^= 0xff;
    fs.writeFileSync(first, bytes);
    const cursor = LogReader.open(topic).cursor(0, { from: 'earliest', follow: false });
    const seen: number[] = [];
    await assert.rejects(
      async () => {
        for (;;) if ((await cursor.read(100, (r) => seen.push(r.offset))) === null) break;
      },
      (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_LOG' && /corrupt.*\(crc\).*not the last segment/.test(err.message),
    );
    assert.deepEqual(seen, []);
    await cursor.close();
  });
});

describe('writer lock and topic options', () => {
  it('refuses a second writer naming the pid, and frees the lock on close', (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 2 } });
    assert.equal(fs.readFileSync(lockPath(topic), 'utf8').trim(), String(process.pid));
    assert.throws(
      () => EventLog.open(topic),
      (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_LOG_LOCKED' && err.message.includes(`process ${process.pid}`),
    );
    log.close();
    assert.equal(fs.existsSync(lockPath(topic)), false);
    EventLog.open(topic).close();
  });

  it('takes over a stale lock left by a dead process', (t) => {
    const topic = tempTopic(t);
    EventLog.open(topic, { create: { partitions: 1 } }).close();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    fs.writeFileSync(lockPath(topic), `${dead}\n`);
    const log = EventLog.open(topic);
    assert.equal(fs.readFileSync(lockPath(topic), 'utf8').trim(), String(process.pid));
    log.close();
  });

  it('rejects a partition count different from the existing one, and a missing topic without create', (t) => {
    const topic = tempTopic(t);
    EventLog.open(topic, { create: { partitions: 3 } }).close();
    assert.throws(
      () => EventLog.open(topic, { create: { partitions: 5 } }),
      (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_LOG' && /has 3 partitions, but 5 were requested/.test(err.message),
    );
    assert.equal(fs.existsSync(lockPath(topic)), false, 'a refused open releases the lock');
    EventLog.open(topic, { create: { partitions: 3 } }).close();
    assert.throws(() => EventLog.open(`${topic}-missing`), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_LOG');
    assert.throws(() => LogReader.open(`${topic}-missing`), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_LOG');
    assert.throws(() => EventLog.open(topic, { create: { partitions: 0 } }), /partitions must be an integer/);
  });
});

describe('bounded and following cursors', () => {
  it('a bounded cursor ends at the snapshot taken at open, even when more is appended', async (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 1, segmentBytes: 400 } });
    for (let i = 0; i < 10; i++) log.append(null, i, 0, json(i));
    log.flush();
    const reader = LogReader.open(topic);
    for (let i = 10; i < 40; i++) log.append(null, i, 0, json(i));
    log.flush();
    const cursor = reader.cursor(0, { from: 'earliest', follow: false });
    assert.deepEqual((await drain(cursor)).map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(await cursor.read(10, () => {}), null);
    await cursor.close();
    log.close();
  });

  it('a following cursor returns 0 when idle, then sees appends, segment rolls and a recovered tail', async (t) => {
    const topic = tempTopic(t);
    let log = EventLog.open(topic, { create: { partitions: 1, segmentBytes: 400 } });
    for (let i = 0; i < 3; i++) log.append(null, i, 0, json(i));
    log.flush();
    const cursor = LogReader.open(topic).cursor(0, { from: 'earliest', follow: true, pollMs: 5 });
    t.after(() => cursor.close());
    const offsets = async () => (await drainFollow(cursor)).map((r) => r.offset);
    assert.deepEqual(await offsets(), [0, 1, 2]);
    assert.equal(await cursor.read(10, () => {}, true), 0);

    for (let i = 3; i < 30; i++) log.append(null, i, 0, json(i));
    log.flush({ fsync: false });
    assert.ok(listSegments(topic, 0).length > 2);
    assert.deepEqual(await offsets(), range(3, 30));

    // A crashed writer leaves half a record; the follower waits at it, then reads what the next
    // writer appends after cutting it off.
    log.append(null, 30, 0, json('torn'));
    log.flush();
    const file = lastSegment(topic, 0);
    fs.truncateSync(file, fs.statSync(file).size - 3);
    log.close();
    assert.deepEqual(await offsets(), []);
    log = EventLog.open(topic);
    assert.equal(log.recovered.length, 1);
    log.append(null, 30, 0, json('again'));
    log.append(null, 31, 0, json('more'));
    log.close();
    const got = await drainFollow(cursor);
    assert.deepEqual(got.map((r) => [r.offset, r.payload]), [[30, '"again"'], [31, '"more"']]);
  });

  it('a following cursor started at the latest offset sees only new records, even in an empty partition', async (t) => {
    const topic = tempTopic(t);
    const log = EventLog.open(topic, { create: { partitions: 2 } });
    for (let i = 0; i < 5; i++) log.append(null, i, 0, json(i), 0);
    log.flush();
    const reader = LogReader.open(topic);
    const c0 = reader.cursor(0, { from: 'latest', follow: true, pollMs: 5 });
    const c1 = reader.cursor(1, { from: 'latest', follow: true, pollMs: 5 });
    t.after(async () => {
      await c0.close();
      await c1.close();
    });
    assert.deepEqual(await drainFollow(c0), []);
    assert.deepEqual(await drainFollow(c1), []);
    log.append(null, 9, 0, json('p0'), 0);
    log.append(null, 9, 0, json('p1'), 1);
    log.close();
    assert.deepEqual((await drainFollow(c0)).map((r) => [r.offset, r.payload]), [[5, '"p0"']]);
    assert.deepEqual((await drainFollow(c1)).map((r) => [r.offset, r.payload]), [[0, '"p1"']]);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** Follow mode: reads until a read, after waiting for a poll, yields nothing. */
async function drainFollow(cursor: PartitionCursor): Promise<Rec[]> {
  const out: Rec[] = [];
  for (;;) {
    const n = await cursor.read(
      5,
      (r) => out.push({ offset: r.offset, key: r.key(), timestamp: r.timestamp, schemaId: r.schemaId, payload: r.payload().toString('utf8') }),
      true,
    );
    assert.notEqual(n, null, 'a following cursor never ends');
    if (n === 0) return out;
  }
}
