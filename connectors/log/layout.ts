import fs from 'node:fs';
import path from 'node:path';

/**
 * Where things live in a topic directory:
 *
 *   <topic>/topic.json                          TopicConfig
 *   <topic>/.writer.lock                        pid of the one writer
 *   <topic>/schemas/<id>.avsc                   registered Avro schemas, ids 1, 2, 3…
 *   <topic>/partition-<p>/<base, 20 digits>.log  segments; base = offset of the segment's first record
 */

/** One segment file of a partition. */
export interface SegmentRef {
  /** Offset of the segment's first record (from the file name). */
  readonly base: number;
  readonly path: string;
}

const SEGMENT_NAME = /^(\d{20})\.log$/;

export function topicConfigPath(topic: string): string {
  return path.join(topic, 'topic.json');
}

export function lockPath(topic: string): string {
  return path.join(topic, '.writer.lock');
}

export function schemasDir(topic: string): string {
  return path.join(topic, 'schemas');
}

export function partitionDir(topic: string, partition: number): string {
  return path.join(topic, `partition-${partition}`);
}

export function segmentPath(topic: string, partition: number, base: number): string {
  return path.join(partitionDir(topic, partition), `${String(base).padStart(20, '0')}.log`);
}

/** Segments of a partition in offset order; none when the partition directory is missing. */
export function listSegments(topic: string, partition: number): SegmentRef[] {
  const dir = partitionDir(topic, partition);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return segmentsOf(dir, names);
}

/** `listSegments` without blocking the event loop (follow-mode readers poll it). */
export async function listSegmentsAsync(topic: string, partition: number): Promise<SegmentRef[]> {
  const dir = partitionDir(topic, partition);
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return segmentsOf(dir, names);
}

function segmentsOf(dir: string, names: readonly string[]): SegmentRef[] {
  const segments: SegmentRef[] = [];
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name);
    if (m) segments.push({ base: Number(m[1]), path: path.join(dir, name) });
  }
  return segments.sort((a, b) => a.base - b.base);
}

/**
 * Replaces `file` with `text` atomically: readers see the old content or the new, never a part.
 * Writes a temp file beside it, fsyncs it, renames it over `file`.
 */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

/** Makes a directory's entries (new or renamed files) durable; a no-op where that is unsupported. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; durability is best effort there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
