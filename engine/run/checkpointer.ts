import { errorMessage, RtmlError } from '../errors.ts';
import type { Stateful } from '../state.ts';
import type { SourceReader } from '../io.ts';
import { CheckpointFile, type Checkpoint } from './checkpointFile.ts';
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
}

/**
 * When and how a run checkpoints: every `intervalMs` (processing time) and/or `everyEvents`
 * events; loading checks that a checkpoint belongs to this run (same bindings, same operators with
 * the same meaning) before anything is restored from it.
 */
export class Checkpointer {
  private readonly file: CheckpointFile;
  private lastAt = Date.now();
  private inAtLast = 0;

  constructor(
    private readonly config: CheckpointConfig,
    private readonly topology: string,
  ) {
    this.file = new CheckpointFile(config.dir, topology);
  }

  load(bindings: Readonly<Record<string, string>>, states: States): Checkpoint | undefined {
    const saved = this.file.load();
    if (!saved) return undefined;
    const where = `checkpoint ${this.file.path}`;
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
    return saved;
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
  }

  due(eventsIn: number): boolean {
    const { everyEvents, intervalMs = 10_000 } = this.config;
    if (everyEvents !== undefined && eventsIn - this.inAtLast >= everyEvents) return true;
    return Date.now() - this.lastAt >= intervalMs;
  }

  /** Flushes the run's outputs, then saves its state and positions; returns the size and time. */
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
    const bytes = this.file.save(
      { version: 1, topology: this.topology, bindings: run.bindings, sources, sourceStates: run.sourceStates(sources), sinks, state, signatures, watermarks: run.watermarks.snapshot(), counters, takenAt: Date.now() },
      this.config.pauseMs,
    );
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
