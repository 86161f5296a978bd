import fs from 'node:fs';
import { RtmlError } from '../../engine/errors.ts';
import { listSegments, type SegmentRef } from './layout.ts';
import { PartitionCursor } from './partitionCursor.ts';
import { SchemaRegistry, type SchemaInfo } from './schemaRegistry.ts';
import { scanSegment, type SegmentScan } from './segmentScan.ts';
import { readTopicConfig, type TopicConfig } from './topicConfig.ts';

/** One partition as `info()` shows it. */
export interface PartitionInfo {
  readonly partition: number;
  /** Offset of the first record. */
  readonly startOffset: number;
  /** Offset the next record appended will get (= number of records while nothing is deleted). */
  readonly endOffset: number;
  readonly segments: number;
  /** Bytes of the segment files, a torn or in-progress tail included. */
  readonly bytes: number;
}

export interface LogInfo {
  readonly path: string;
  readonly segmentBytes: number;
  readonly partitions: readonly PartitionInfo[];
  readonly schemas: readonly SchemaInfo[];
}

/** Where to start reading a partition: the first record, the end at open, or an offset. */
export type StartPosition = 'earliest' | 'latest' | number;

export interface CursorRequest {
  readonly from: StartPosition;
  readonly follow: boolean;
  readonly chunkBytes?: number;
  readonly pollMs?: number;
}

/** A partition as it was when the reader opened. */
interface PartitionSnapshot {
  readonly segments: readonly SegmentRef[];
  readonly startOffset: number;
  /** Size of the last segment at open: bounded cursors read no further. */
  readonly lastBytes: number;
  /** Bytes of all segment files. */
  readonly bytes: number;
}

/**
 * Read-only access to a topic: takes no lock and never modifies a file, so it can run beside the
 * writer. `open` snapshots each partition's segment list and the size of its last segment; bounded
 * cursors stop there. Where a partition's valid records end is found by validating its last segment,
 * only when needed (`info`, starting at 'latest') and then cached.
 */
export class LogReader {
  private readonly ends: (SegmentScan | undefined)[];
  private readonly estimates: (SegmentScan | undefined)[];

  private constructor(
    readonly path: string,
    readonly config: TopicConfig,
    readonly schemas: SchemaRegistry,
    private readonly snapshots: readonly PartitionSnapshot[],
  ) {
    this.ends = snapshots.map(() => undefined);
    this.estimates = snapshots.map(() => undefined);
  }

  static open(path: string): LogReader {
    const config = readTopicConfig(path);
    if (config === undefined) {
      throw new RtmlError('RTML_E_LOG', `no log topic at ${path} (no ${path}/topic.json)`);
    }
    const snapshots: PartitionSnapshot[] = [];
    for (let p = 0; p < config.partitions; p++) snapshots.push(snapshotPartition(path, p));
    // Schemas after segments: every record in the snapshot was written after its schema's file.
    return new LogReader(path, config, SchemaRegistry.load(path), snapshots);
  }

  get partitions(): number {
    return this.config.partitions;
  }

  /** Per-partition offsets and sizes (validating each last segment once), and the schemas. */
  info(): LogInfo {
    return {
      path: this.path,
      segmentBytes: this.config.segmentBytes,
      partitions: this.snapshots.map((s, partition) => ({
        partition,
        startOffset: s.startOffset,
        endOffset: this.end(partition).endOffset,
        segments: s.segments.length,
        bytes: s.bytes,
      })),
      schemas: this.schemas.list(),
    };
  }

  /**
   * End offset of `partition` at open from its records' framing only (no CRC check): what a bounded
   * read will reach unless a record in the last segment turns out corrupt. For progress totals.
   */
  estimatedEndOffset(partition: number): number {
    const s = this.snapshot(partition);
    const last = s.segments.at(-1);
    if (last === undefined) return s.startOffset;
    this.estimates[partition] ??= scanSegment(last.path, last.base, { limit: s.lastBytes, verifyCrc: false });
    return this.estimates[partition].endOffset;
  }

  /**
   * The offset of the first record of `partition` stamped after `time` (else its estimated end
   * offset), from the records' framing and timestamps: for the progress total of a replay that
   * ends at a time. Finds the segment by its first record's timestamp (binary search), then walks it.
   */
  offsetAfterTime(partition: number, time: number): number {
    const s = this.snapshot(partition);
    const segments = s.segments;
    const last = segments.length - 1;
    let lo = 0;
    let hi = last;
    // The last segment whose first record is stamped at or before `time` (the first one if none is).
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (firstTimestamp(segments[mid]!.path) <= time) lo = mid;
      else hi = mid - 1;
    }
    for (let i = lo; i <= last; i++) {
      const scan = scanSegment(segments[i]!.path, segments[i]!.base, { limit: i === last ? s.lastBytes : undefined, verifyCrc: false, stopAfterTime: time });
      if (scan.afterTime) return scan.endOffset;
    }
    return this.estimatedEndOffset(partition);
  }

  /** A cursor over `partition`; bounded ones end at the snapshot taken by `open`. */
  cursor(partition: number, request: CursorRequest): PartitionCursor {
    const s = this.snapshot(partition);
    const options = { follow: request.follow, limitBytes: s.lastBytes, chunkBytes: request.chunkBytes, pollMs: request.pollMs };
    const from = request.from;
    if (typeof from === 'number' && (!Number.isInteger(from) || from < s.startOffset)) {
      throw new RtmlError('RTML_E_LOG', `cannot start partition ${partition} of ${this.path} at offset ${from}: its records start at offset ${s.startOffset}`);
    }
    const last = s.segments.length - 1;
    const start = (segmentIndex: number, position: number, offset: number, deliverFrom: number) =>
      new PartitionCursor(this.path, partition, s.segments, { segmentIndex, position, offset, deliverFrom }, options);
    if (last < 0) return start(0, 0, 0, typeof from === 'number' ? from : 0);
    if (from === 'latest') {
      const end = this.end(partition);
      return start(last, end.validBytes, end.endOffset, end.endOffset);
    }
    if (from === 'earliest') return start(0, 0, s.startOffset, s.startOffset);
    // Seek: the last segment starting at or before `from`, then skip records up to it.
    let i = last;
    while (i > 0 && s.segments[i]!.base > from) i--;
    return start(i, 0, s.segments[i]!.base, from);
  }

  private snapshot(partition: number): PartitionSnapshot {
    const s = this.snapshots[partition];
    if (s === undefined) {
      throw new RtmlError('RTML_E_LOG', `partition ${partition} does not exist in ${this.path} (partitions 0..${this.partitions - 1})`);
    }
    return s;
  }

  /** Where the valid records of `partition`'s last segment ended at open (validated, cached). */
  private end(partition: number): SegmentScan {
    const s = this.snapshot(partition);
    const last = s.segments.at(-1);
    if (last === undefined) return { validBytes: 0, endOffset: s.startOffset, fileBytes: 0, stop: undefined };
    this.ends[partition] ??= scanSegment(last.path, last.base, { limit: s.lastBytes });
    return this.ends[partition];
  }
}

/** The timestamp of a segment's first record (recordFormat.ts: f64 at byte 16); +inf when it has none. */
function firstTimestamp(file: string): number {
  const header = Buffer.alloc(24);
  const fd = fs.openSync(file, 'r');
  try {
    return fs.readSync(fd, header, 0, 24, 0) === 24 ? header.readDoubleLE(16) : Number.POSITIVE_INFINITY;
  } finally {
    fs.closeSync(fd);
  }
}

function snapshotPartition(topic: string, partition: number): PartitionSnapshot {
  const segments = listSegments(topic, partition);
  let bytes = 0;
  let lastBytes = 0;
  for (const segment of segments) {
    lastBytes = fs.statSync(segment.path).size;
    bytes += lastBytes;
  }
  return { segments, startOffset: segments[0]?.base ?? 0, lastBytes, bytes };
}
