import type { LateOutput, OutputCapability } from '../host.ts';
import type { SinkWriter } from '../io.ts';
import { Outcome, type EarlierRecord, type RecordContext } from '../record.ts';
import type { RunStats } from './options.ts';

/** Dead letters reported one by one when no dlq sink is bound; the rest are summed up at the end. */
const SHOWN_DEAD_LETTERS = 20;

/** A sink as operators hold it; its writer is set once the bindings are checked and opened. */
export interface SinkHandle {
  writer: SinkWriter | undefined;
}

export function emptyStats(topology: string): RunStats {
  return {
    topology,
    in: 0,
    processed: 0,
    late: 0,
    deadLettered: 0,
    resultsDeadLettered: 0,
    resultsOut: 0,
    lateDropped: 0,
    deadLettersUnbound: 0,
    elapsedMs: 0,
    eventsPerSecond: 0,
    checkpoints: 0,
    checkpointBytes: 0,
    checkpointMs: 0,
    storeRetries: 0,
    resumed: false,
    windowsCut: 0,
  };
}

/**
 * Outcome accounting: every input event ends in exactly one of processed, late and dead-lettered
 * (docs/semantics.md, bad input), and the counts add up even when an operator that batches letters
 * an event after its dispatch. Writes dead letters and late events, and counts results per sink.
 */
export class Outcomes implements OutputCapability {
  readonly stats: RunStats;
  /** Values written per sink(...) name (the metrics' results_out_total). */
  readonly bySink = new Map<string, { n: number }>();
  /** Set once the sinks are open. */
  dlq: SinkWriter | undefined;
  /** The input event being dispatched, if any: a letter for it is counted when its dispatch ends. */
  private inDispatch = false;
  private dispatchSource = '';
  private dispatchPartition = 0;
  private dispatchOffset = 0;
  /**
   * Input events of the current burst that did not end as processed, by `source\0partition\0offset`,
   * and events an operator that batches dead-lettered after their dispatch: how each is counted, so a
   * later letter for it (another branch's batch) moves it to dead-lettered once at most. Cleared
   * once the operators that batch have flushed (endBurst): no letter can then name those events.
   */
  private readonly settled = new Map<string, Outcome>();
  private readonly lateDrops = new Map<string, { sink: string | undefined; n: number }>();

  constructor(
    topology: string,
    private readonly record: RecordContext,
    /** Declares the late sink a window names; its handle when the run binds it (else its late events are counted and dropped). */
    private readonly boundLateSink: (name: string) => SinkHandle | undefined,
    /** True when operators batch (score, enrich online): they may letter an event after its dispatch. */
    private readonly batching: () => boolean,
    private readonly warn: (message: string) => void,
  ) {
    this.stats = emptyStats(topology);
  }

  /** An input event starts through the topology (the record context holds it). */
  beginDispatch(source: string, partition: number, offset: number): void {
    this.stats.in++;
    this.inDispatch = true;
    this.dispatchSource = source;
    this.dispatchPartition = partition;
    this.dispatchOffset = offset;
  }

  /** Its dispatch ended: it is counted in the outcome it ended with. */
  endDispatch(): void {
    this.inDispatch = false;
    const r = this.record;
    if (r.outcome === Outcome.Processed) this.stats.processed++;
    else {
      if (r.outcome === Outcome.Late) this.stats.late++;
      else this.stats.deadLettered++;
      // An operator that batches may still letter it in this burst: it must know it is not processed.
      if (this.batching()) this.settled.set(`${r.source}\0${r.partition}\0${r.offset}`, r.outcome);
    }
  }

  /** Every event of the burst is settled: the operators that batch have flushed. */
  endBurst(): void {
    this.settled.clear();
  }

  /** A value a sink(...) wrote. */
  resultWritten(count: { n: number }): void {
    this.stats.resultsOut++;
    count.n++;
  }

  /** The counter of a sink(...) name's results. */
  sinkCount(name: string): { n: number } {
    let count = this.bySink.get(name);
    if (count === undefined) this.bySink.set(name, (count = { n: 0 }));
    return count;
  }

  deadLetter(reason: string, earlier?: EarlierRecord): void {
    const record = this.record;
    // Downstream of a window: the letter is the result's, the input event that fired it is not bad.
    if (record.result !== undefined) return this.deadLetterResult(reason, record.result);
    // An event an operator held back and passes on now (emitHeld) is the one lettered.
    const held = earlier ?? record.held;
    const r = held ?? record;
    this.countDeadLettered(r.source, r.partition, r.offset);
    const letter = { reason, source: r.source, partition: r.partition, offset: r.offset, payload: held ? held.value : (record.raw ?? record.value) };
    this.writeLetter(letter, r.time, `${r.source} partition ${r.partition} offset ${r.offset}`);
  }

  deadLetterResult(reason: string, result: unknown): void {
    const r = this.record;
    this.stats.resultsDeadLettered++;
    // Fired by the input event being dispatched (or held back with it), else by the end of input or an idle source.
    const fired = this.inDispatch || r.held !== undefined;
    const letter = { reason, source: fired ? r.source : null, partition: fired ? r.partition : null, offset: fired ? r.offset : null, payload: result, result: true };
    this.writeLetter(letter, r.time, fired ? `a result fired by ${r.source} partition ${r.partition} offset ${r.offset}` : 'a result fired by the end of input');
  }

  late(sink: string | undefined, operatorId: string): LateOutput {
    const r = this.record;
    const bound = sink === undefined ? undefined : this.boundLateSink(sink);
    if (bound !== undefined) {
      return (event) => {
        if (r.outcome < Outcome.Late) r.outcome = Outcome.Late;
        bound.writer!.write(event, r.key, r.time);
      };
    }
    const drops = { sink, n: 0 };
    this.lateDrops.set(operatorId, drops);
    return () => {
      if (r.outcome < Outcome.Late) r.outcome = Outcome.Late;
      drops.n++;
      this.stats.lateDropped++;
    };
  }

  /** The end-of-run report of what was dropped or not kept. */
  reportDrops(): void {
    for (const [id, drops] of this.lateDrops) {
      if (drops.n > 0) {
        this.warn(`${drops.n} late event(s) dropped by ${id}` + (drops.sink ? ` (late output '${drops.sink}' is not bound: add --sink ${drops.sink}=URI)` : " (set the window's late option to keep them)"));
      }
    }
    if (this.stats.deadLettersUnbound > SHOWN_DEAD_LETTERS) {
      this.warn(`${this.stats.deadLettersUnbound - SHOWN_DEAD_LETTERS} more dead letter(s) not shown (bind --sink dlq=URI to keep them)`);
    }
  }

  /**
   * Counts the input event at source/partition/offset as dead-lettered, once: the event being
   * dispatched takes that outcome when its dispatch ends; an earlier one (an operator that batches
   * letters it after its dispatch) moves from what it was counted as, unless it already was.
   */
  private countDeadLettered(source: string, partition: number, offset: number): void {
    if (this.inDispatch && offset === this.dispatchOffset && partition === this.dispatchPartition && source === this.dispatchSource) {
      this.record.outcome = Outcome.DeadLettered;
      return;
    }
    const id = `${source}\0${partition}\0${offset}`;
    const was = this.settled.get(id) ?? Outcome.Processed;
    if (was === Outcome.DeadLettered) return;
    if (was === Outcome.Late) this.stats.late--;
    else this.stats.processed--;
    this.stats.deadLettered++;
    this.settled.set(id, Outcome.DeadLettered);
  }

  /** Writes a dead letter to the dlq sink, or reports it (`what`: whose letter) when none is bound. */
  private writeLetter(letter: object, time: number, what: string): void {
    if (this.dlq) {
      this.dlq.write(letter, undefined, Number.isFinite(time) ? time : 0);
      return;
    }
    this.stats.deadLettersUnbound++;
    if (this.stats.deadLettersUnbound <= SHOWN_DEAD_LETTERS) {
      this.warn(`dead letter (bind --sink dlq=URI to keep them): ${what}: ${(letter as { reason: string }).reason}`);
    }
  }
}
