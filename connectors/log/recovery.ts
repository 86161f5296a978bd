import fs from 'node:fs';
import { RtmlError } from '../../engine/errors.ts';
import { fsyncDir, listSegments, partitionDir, segmentPath, type SegmentRef } from './layout.ts';
import type { StopReason } from './recordFormat.ts';
import { scanSegment } from './segmentScan.ts';

/** A torn or corrupt tail the writer cut off a partition's last segment on open. */
export interface RecoveredTail {
  readonly partition: number;
  readonly segment: string;
  /** Offset of the first record dropped (the next record appended gets it). */
  readonly offset: number;
  /** Byte position in the segment where it was cut. */
  readonly position: number;
  readonly truncatedBytes: number;
  readonly reason: StopReason;
}

/** Where a partition's writer resumes. */
export interface PartitionTail {
  readonly segment: SegmentRef;
  /** Size of the last segment (after any truncation). */
  readonly segmentBytes: number;
  readonly nextOffset: number;
  readonly recovered: RecoveredTail | undefined;
}

/**
 * Prepares partition `partition` for appends: creates its directory and first segment if missing, and
 * validates the last segment, truncating it at the first incomplete record, CRC failure or offset
 * gap (a crash mid-write leaves such a tail). Only the last segment can have one: the writer syncs a
 * segment before it rolls to the next.
 */
export function recoverPartition(topic: string, partition: number): PartitionTail {
  const segments = listSegments(topic, partition);
  const last = segments.at(-1);
  if (last === undefined) {
    const dir = partitionDir(topic, partition);
    fs.mkdirSync(dir, { recursive: true });
    const segment = { base: 0, path: segmentPath(topic, partition, 0) };
    fs.closeSync(fs.openSync(segment.path, 'a'));
    fsyncDir(dir);
    return { segment, segmentBytes: 0, nextOffset: 0, recovered: undefined };
  }
  const scan = scanSegment(last.path, last.base);
  if (scan.stop === undefined) {
    return { segment: last, segmentBytes: scan.fileBytes, nextOffset: scan.endOffset, recovered: undefined };
  }
  try {
    fs.truncateSync(last.path, scan.validBytes);
  } catch (err) {
    throw new RtmlError('RTML_E_LOG', `cannot truncate the torn tail of ${last.path}: ${(err as Error).message}`, { cause: err });
  }
  const recovered: RecoveredTail = {
    partition,
    segment: last.path,
    offset: scan.endOffset,
    position: scan.validBytes,
    truncatedBytes: scan.fileBytes - scan.validBytes,
    reason: scan.stop,
  };
  return { segment: last, segmentBytes: scan.validBytes, nextOffset: scan.endOffset, recovered };
}

/**
 * Cuts a partition back to its first `offset` records: a sink resuming from a checkpoint writes again
 * what it wrote after it. Later segments are removed newest first, then the segment holding `offset`
 * is truncated where that record begins (durably), so a crash midway leaves a shorter valid log that
 * the next cut finishes. A partition holding fewer records was changed since the checkpoint: refused.
 */
export function cutPartition(topic: string, partition: number, offset: number): void {
  const segments = listSegments(topic, partition);
  const dir = partitionDir(topic, partition);
  let removed = false;
  while (segments.length > 1 && segments.at(-1)!.base > offset) {
    fs.rmSync(segments.pop()!.path);
    removed = true;
  }
  if (removed) fsyncDir(dir);
  const last = segments.at(-1);
  const scan = last === undefined ? { validBytes: 0, endOffset: 0, fileBytes: 0 } : scanSegment(last.path, last.base, { stopAtOffset: offset });
  if (scan.endOffset < offset) {
    throw new RtmlError('RTML_E_CHECKPOINT', `log ${topic} partition ${partition} ends at offset ${scan.endOffset}, before offset ${offset} where the checkpoint left its sink: the topic changed since; delete the checkpoint (or the topic) to start over`);
  }
  if (last === undefined || scan.validBytes === scan.fileBytes) return;
  const fd = fs.openSync(last.path, 'r+');
  try {
    fs.ftruncateSync(fd, scan.validBytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
