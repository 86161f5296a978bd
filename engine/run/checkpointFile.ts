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
}

export class CheckpointFile {
  readonly path: string;

  constructor(dir: string, topology: string) {
    this.path = join(dir, `${topology}.checkpoint`);
  }

  load(): Checkpoint | undefined {
    // A crash mid-write leaves a temp file: never read, removed here.
    const dir = dirname(this.path);
    const prefix = `${basename(this.path)}.tmp-`;
    if (existsSync(dir)) for (const f of readdirSync(dir)) if (f.startsWith(prefix)) rmSync(join(dir, f), { force: true });
    if (!existsSync(this.path)) return undefined;
    let checkpoint: Checkpoint;
    try {
      checkpoint = deserialize(readFileSync(this.path)) as Checkpoint;
    } catch (err) {
      throw new RtmlError('RTML_E_CHECKPOINT', `checkpoint ${this.path} cannot be read (${errorMessage(err)}); delete it to start from the beginning`);
    }
    if (checkpoint?.version !== 1) throw new RtmlError('RTML_E_CHECKPOINT', `checkpoint ${this.path} has an unknown format; delete it to start over`);
    return checkpoint;
  }

  /** Writes atomically; returns the size in bytes. `pauseMs` (crash tests only) holds the write half-done. */
  save(checkpoint: Checkpoint, pauseMs = 0): number {
    const bytes = serialize(checkpoint);
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true });
    const temp = `${this.path}.tmp-${process.pid}`;
    const fd = openSync(temp, 'w');
    try {
      const half = pauseMs > 0 ? bytes.length >> 1 : bytes.length;
      writeSync(fd, bytes, 0, half);
      if (pauseMs > 0) {
        logLine(`rtml: checkpoint write paused half-done (${this.path})`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs);
        writeSync(fd, bytes, half, bytes.length - half);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.path);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return bytes.length;
  }

  remove(): void {
    rmSync(this.path, { force: true });
  }
}
