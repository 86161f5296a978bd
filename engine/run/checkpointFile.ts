import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { errorMessage, RtmlError } from '../errors.ts';
import { logLine } from '../log.ts';

/**
 * Checkpoints: a run's operator state, watermarks, counters, source positions and sink positions,
 * saved together in one file. The file is written beside its final name, fsynced, then renamed over
 * it (and the folder fsynced), so a checkpoint is either wholly there or not at all — a crash in the
 * middle leaves the previous one. Values are serialized with v8.serialize, which keeps Sets, Maps,
 * Infinity and NaN (aggregate accumulators need them).
 *
 * A run with transactional sinks saves each checkpoint as *pending* first (`<name>.pending`, the
 * previous checkpoint kept), commits the transactions, then renames it over the previous one
 * (engine/run/checkpointer.ts).
 */

export interface Checkpoint {
  readonly version: 1;
  readonly topology: string;
  /** The URI each source and sink was bound to: resuming with other bindings is refused. */
  readonly bindings: Readonly<Record<string, string>>;
  /** Per source, per partition: the offset of the last record processed. */
  readonly sources: Readonly<Record<string, Readonly<Record<number, number>>>>;
  /** Per source: what its reader saved beside the offsets (SourceReader.checkpoint), e.g. Kinesis sequence numbers. */
  readonly sourceStates?: Readonly<Record<string, unknown>>;
  /** Per sink: where its output stood once flushed (a file's length), for resuming it. */
  readonly sinks: Readonly<Record<string, unknown>>;
  /** Per stateful operator id, its snapshot and what it means (see StateCapability.register). */
  readonly state: Readonly<Record<string, unknown>>;
  readonly signatures: Readonly<Record<string, string>>;
  readonly watermarks: unknown;
  readonly counters: Readonly<Record<string, number>>;
  readonly takenAt: number;
  /** Checkpoints of a run count up from 1 (0: the run's start); resumed runs go on counting. */
  readonly id?: number;
  /** Per transactional sink, where its marker of this checkpoint is (SinkTransaction.prepare). */
  readonly markers?: Readonly<Record<string, unknown>>;
}

export class CheckpointFile {
  readonly path: string;
  /** A checkpoint whose transactions may not be committed yet. */
  readonly pendingPath: string;

  constructor(dir: string, topology: string) {
    this.path = join(dir, `${topology}.checkpoint`);
    this.pendingPath = `${this.path}.pending`;
  }

  load(): Checkpoint | undefined {
    // A crash mid-write leaves a temp file: never read, removed here.
    const dir = dirname(this.path);
    const prefix = `${basename(this.path)}.tmp-`;
    if (existsSync(dir)) for (const f of readdirSync(dir)) if (f.startsWith(prefix)) rmSync(join(dir, f), { force: true });
    return read(this.path);
  }

  loadPending(): Checkpoint | undefined {
    return read(this.pendingPath);
  }

  /** Writes atomically (`pending`: as the pending checkpoint); returns the size in bytes. `pauseMs` (crash tests only) holds the write half-done. */
  save(checkpoint: Checkpoint, pauseMs = 0, pending = false): number {
    const bytes = serialize(checkpoint);
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true });
    const temp = `${this.path}.tmp-${process.pid}`;
    const fd = openSync(temp, 'w');
    try {
      const half = pauseMs > 0 ? bytes.length >> 1 : bytes.length;
      writeSync(fd, bytes, 0, half);
      if (pauseMs > 0) {
        pauseForCrashTest(`checkpoint write paused half-done (${this.path})`, pauseMs);
        writeSync(fd, bytes, half, bytes.length - half);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, pending ? this.pendingPath : this.path);
    fsyncDir(dir);
    return bytes.length;
  }

  /** The pending checkpoint's transactions are committed: it becomes the checkpoint. */
  commitPending(): void {
    renameSync(this.pendingPath, this.path);
    fsyncDir(dirname(this.path));
  }

  /** The pending checkpoint's transactions were not committed: the previous checkpoint stands. */
  discardPending(): void {
    rmSync(this.pendingPath, { force: true });
  }

  remove(): void {
    rmSync(this.path, { force: true });
    rmSync(this.pendingPath, { force: true });
  }
}

/** Crash tests: says where the run is, then holds it there (the test kills it meanwhile). */
export function pauseForCrashTest(where: string, pauseMs: number): void {
  logLine(`rtml: ${where}`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs);
}

function read(path: string): Checkpoint | undefined {
  if (!existsSync(path)) return undefined;
  let checkpoint: Checkpoint;
  try {
    checkpoint = deserialize(readFileSync(path)) as Checkpoint;
  } catch (err) {
    throw new RtmlError('RTML_E_CHECKPOINT', `checkpoint ${path} cannot be read (${errorMessage(err)}); delete it to start from the beginning`);
  }
  if (checkpoint?.version !== 1) throw new RtmlError('RTML_E_CHECKPOINT', `checkpoint ${path} has an unknown format; delete it to start over`);
  return checkpoint;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
