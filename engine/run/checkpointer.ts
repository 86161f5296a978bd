import { errorMessage, RtmlError } from '../errors.ts';
import type { Stateful } from '../state.ts';
import type { SinkTransaction, SourceOffsets, SourceReader } from '../io.ts';
import { CheckpointFile, pauseForCrashTest, type Checkpoint } from './checkpointFile.ts';
import type { Lane } from './lanes.ts';

/** The counters a checkpoint carries, so a resumed run's summary covers the whole input. */
const COUNTERS = ['in', 'processed', 'late', 'deadLettered', 'resultsDeadLettered', 'resultsOut', 'lateDropped', 'deadLettersUnbound'] as const;
type Counters = Record<(typeof COUNTERS)[number], number>;

export interface CheckpointConfig {
  dir: string;
  intervalMs?: number;
  everyEvents?: number;
  pauseMs?: number;
}

/** Operator states by id, with what each means (StateCapability.register). */
export type States = ReadonlyMap<string, { state: Stateful; signature: string }>;

/** What a run hands over to be checkpointed. */
export interface CheckpointedRun {
  /** The URIs the run's sources and sinks are bound to. */
  bindings: Readonly<Record<string, string>>;
  states: States;
  watermarks: Stateful;
  counters: Counters;
  /** Per source and partition, the offset of the last record processed. */
  positions(): Record<string, Record<number, number>>;
  /** Per source, what its reader keeps beside those offsets (SourceReader.checkpoint). */
  sourceStates(positions: Record<string, Record<number, number>>): Record<string, unknown>;
  /** Writes out every sink and store; returns the sinks' positions. */
  flushOutputs(): Promise<Record<string, unknown>>;
  /** The open transactions of the run's exactly-once sinks, with the names of the sinks writing in each. */
  transactions: ReadonlyMap<SinkTransaction, readonly string[]>;
  /** The sources' readers with their positions, for the offsets a transaction commits. */
  sourceOffsets(positions: Record<string, Record<number, number>>): SourceOffsets[];
}

/** Resuming from a pending checkpoint: whether the marker a transactional sink wrote for it was committed. */
export type MarkerCheck = (sink: string, marker: unknown) => Promise<boolean>;

/**
 * When and how a run checkpoints: every `intervalMs` (processing time) and/or `everyEvents`
 * events; loading checks that a checkpoint belongs to this run (same bindings, same operators with
 * the same meaning) before anything is restored from it.
 *
 * With exactly-once sinks a checkpoint is taken in two phases, because the checkpoint is a file and
 * the outputs are in a transaction of another system, and neither can commit the other: the sinks'
 * transactions get a marker naming the checkpoint, the checkpoint is saved as pending (the previous
 * one kept), the transactions are committed, and the checkpoint is marked committed. A crash
 * between those steps leaves a pending checkpoint; the next run resumes from it if its marker was
 * committed, else from the previous one, whose outputs are then exactly those committed (what came
 * after was in a transaction that is aborted, and so never seen by readers of committed data).
 */
export class Checkpointer {
  private readonly file: CheckpointFile;
  private lastAt = Date.now();
  private inAtLast = 0;
  /** The id of the last checkpoint saved or restored. */
  private lastId = 0;

  constructor(
    private readonly config: CheckpointConfig,
    private readonly topology: string,
    private readonly report: (message: string) => void,
  ) {
    this.file = new CheckpointFile(config.dir, topology);
  }

  /** The checkpoint to resume from, if any; a pending one is settled first (see the class). */
  async load(bindings: Readonly<Record<string, string>>, states: States, committed: MarkerCheck): Promise<Checkpoint | undefined> {
    const pending = this.file.loadPending();
    if (pending) {
      this.check(pending, this.file.pendingPath, bindings, states);
      const outcomes = await Promise.all(Object.entries(pending.markers ?? {}).map(([sink, marker]) => committed(sink, marker)));
      if (outcomes.every(Boolean)) {
        this.file.commitPending();
        this.report(`checkpoint ${pending.id} was committed before the last run stopped: resuming from it`);
      } else if (outcomes.some(Boolean)) {
        throw new RtmlError('RTML_E_CHECKPOINT', `checkpoint ${this.file.pendingPath}: the transactions of some sinks were committed and others not; outputs cannot be made exactly-once again (delete the checkpoint to start over)`);
      } else {
        this.file.discardPending();
        this.report(`checkpoint ${pending.id} was not committed before the last run stopped (its transaction is aborted): resuming from the one before`);
      }
    }
    const saved = this.file.load();
    if (saved) this.check(saved, this.file.path, bindings, states);
    return saved;
  }

  /** A checkpoint belongs to this run: same bindings, same operators with the same meaning. */
  private check(saved: Checkpoint, path: string, bindings: Readonly<Record<string, string>>, states: States): void {
    const where = `checkpoint ${path}`;
    const then = saved.bindings;
    for (const key of new Set([...Object.keys(bindings), ...Object.keys(then)])) {
      if (bindings[key] !== then[key]) {
        throw new RtmlError('RTML_E_CHECKPOINT', `${where} was taken with ${key} = ${then[key] ?? '(none)'}, this run has ${bindings[key] ?? '(none)'}: use the same bindings, another --checkpoint-dir, or delete it`);
      }
    }
    const ids = [...states.keys()].sort().join(', ');
    const savedIds = Object.keys(saved.signatures).sort().join(', ');
    const changed = [...states].find(([id, { signature }]) => saved.signatures[id] !== undefined && saved.signatures[id] !== signature);
    if (saved.topology !== this.topology || ids !== savedIds || changed) {
      const what = changed
        ? `operator ${changed[0]} was ${saved.signatures[changed[0]]} and is now ${changed[1].signature}`
        : `it holds the state of operators ${savedIds || '(none)'}; topology '${this.topology}' now has ${ids || '(none)'}`;
      throw new RtmlError('RTML_E_CHECKPOINT', `${where}: ${what}; the topology changed, so delete the checkpoint to start over`);
    }
  }

  restore(saved: Checkpoint, states: States, watermarks: Stateful, counters: Counters): void {
    try {
      for (const [id, { state }] of states) state.restore(saved.state[id]);
      watermarks.restore(saved.watermarks);
    } catch (err) {
      throw new RtmlError('RTML_E_CHECKPOINT', `checkpoint ${this.file.path} does not fit this run: ${errorMessage(err)}`, { cause: err });
    }
    for (const name of COUNTERS) counters[name] = saved.counters[name] ?? 0;
    this.inAtLast = counters.in;
    this.lastId = saved.id ?? 0;
  }

  due(eventsIn: number): boolean {
    const { everyEvents, intervalMs = 10_000 } = this.config;
    if (everyEvents !== undefined && eventsIn - this.inAtLast >= everyEvents) return true;
    return Date.now() - this.lastAt >= intervalMs;
  }

  /** Flushes the run's outputs, then saves its state and positions (and commits its transactions); returns the size and time. */
  async take(run: CheckpointedRun): Promise<{ bytes: number; ms: number }> {
    const started = performance.now();
    const sinks = await run.flushOutputs();
    const state: Record<string, unknown> = {};
    const signatures: Record<string, string> = {};
    for (const [id, s] of run.states) {
      state[id] = s.state.snapshot();
      signatures[id] = s.signature;
    }
    const counters: Record<string, number> = {};
    for (const name of COUNTERS) counters[name] = run.counters[name];
    const sources = run.positions();
    const id = this.lastId + 1;
    const checkpoint: Checkpoint = { version: 1, id, topology: this.topology, bindings: run.bindings, sources, sourceStates: run.sourceStates(sources), sinks, state, signatures, watermarks: run.watermarks.snapshot(), counters, takenAt: Date.now() };
    const pauseMs = this.config.pauseMs ?? 0;
    let bytes: number;
    if (run.transactions.size === 0) bytes = this.file.save(checkpoint, pauseMs);
    else {
      const offsets = run.sourceOffsets(sources);
      const markers: Record<string, unknown> = {};
      for (const [transaction, sinkNames] of run.transactions) {
        const marker = await transaction.prepare(id, offsets);
        for (const name of sinkNames) markers[name] = marker;
      }
      bytes = this.file.save({ ...checkpoint, markers }, pauseMs, true);
      if (pauseMs > 0) pauseForCrashTest(`checkpoint ${id} pending, its transactions not committed yet`, pauseMs);
      for (const transaction of run.transactions.keys()) await transaction.commit();
      if (pauseMs > 0) pauseForCrashTest(`checkpoint ${id}: transactions committed, checkpoint not marked committed yet`, pauseMs);
      this.file.commitPending();
    }
    this.lastId = id;
    this.lastAt = Date.now();
    this.inAtLast = run.counters.in;
    return { bytes, ms: performance.now() - started };
  }

  /** A completed bounded run needs no checkpoint: the next run starts over. */
  remove(): void {
    this.file.remove();
  }
}

/** Per source and partition, the offset of the last record processed. */
export function positionsOf(lanes: readonly Lane[]): Record<string, Record<number, number>> {
  const sources: Record<string, Record<number, number>> = {};
  for (const lane of lanes) {
    if (lane.lastOffset !== undefined) (sources[lane.source.name] ??= {})[lane.partition] = lane.lastOffset;
  }
  return sources;
}

/** What each source's reader saves beside the offsets (see SourceReader.checkpoint). */
export function sourceStatesOf(lanes: readonly Lane[], positions: Record<string, Record<number, number>>): Record<string, unknown> {
  const states: Record<string, unknown> = {};
  for (const lane of lanes) {
    const name = lane.source.name;
    if (name in states || lane.reader.checkpoint === undefined) continue;
    states[name] = lane.reader.checkpoint(byPartition(positions[name]));
  }
  return states;
}

/** Each source's reader with the positions of the partitions it reads (for a transaction's offsets). */
export function sourceOffsetsOf(lanes: readonly Lane[], positions: Record<string, Record<number, number>>): SourceOffsets[] {
  const readers = new Map<SourceReader, string>();
  for (const lane of lanes) readers.set(lane.reader, lane.source.name);
  return [...readers].map(([reader, name]) => ({ reader, positions: byPartition(positions[name]) }));
}

/** Tells each source what its outputs now cover (see SourceReader.committed); `only`: just the readers it selects. */
export async function commitSources(lanes: readonly Lane[], only?: (reader: SourceReader) => boolean): Promise<void> {
  const positions = positionsOf(lanes);
  const done = new Set<SourceReader>();
  for (const lane of lanes) {
    if (done.has(lane.reader) || lane.reader.committed === undefined || (only !== undefined && !only(lane.reader))) continue;
    done.add(lane.reader);
    await lane.reader.committed(byPartition(positions[lane.source.name]));
  }
}

/** A checkpoint's per-partition offsets (JSON object keys) as a map by partition number. */
export function byPartition(offsets: Readonly<Record<number, number>> | undefined): Map<number, number> {
  return new Map(Object.entries(offsets ?? {}).map(([p, offset]): [number, number] => [Number(p), offset]));
}
