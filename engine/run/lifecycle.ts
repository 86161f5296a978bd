import type { LifecycleCapability } from '../host.ts';

/**
 * The operators' hooks around the per-event path: start-up work, flushes after each burst of input
 * (operators that batch), work that outlives their input, and which chain holds events back.
 */
export class Lifecycle implements LifecycleCapability {
  private readonly starts: (() => Promise<{ close(): Promise<void> }>)[] = [];
  private readonly burstEnds: (() => void | Promise<void>)[] = [];
  private readonly finishingWork: Promise<void>[] = [];
  /** Set while subscribing the chain below an operator that holds events back (see holdsEventsBack). */
  holdingBack: string | undefined = undefined;

  constructor(private readonly fail: (err: unknown) => void) {}

  onStart(prepare: () => Promise<{ close(): Promise<void> }>): void {
    this.starts.push(prepare);
  }

  onBurstEnd(flush: () => void | Promise<void>): void {
    this.burstEnds.push(flush);
  }

  finishing(work: Promise<void>): void {
    this.finishingWork.push(work.catch((err: unknown) => this.fail(err)));
  }

  holdsEventsBack(operator: string): void {
    this.holdingBack = operator;
  }

  /** A source starts a new chain of operators: nothing upstream holds its events back. */
  chainStarts(): void {
    this.holdingBack = undefined;
  }

  /** True when some operator batches: it may act on events after their dispatch. */
  get batching(): boolean {
    return this.burstEnds.length > 0;
  }

  /** Runs the start-up work in order; returns what to close when the run ends. */
  async start(opened: { close(): Promise<void> }[]): Promise<void> {
    for (const prepare of this.starts) opened.push(await prepare());
  }

  /** Flushes the operators that batch, upstream first; a failure fails the run, the rest still flush. */
  async endBurst(): Promise<void> {
    for (const flush of this.burstEnds) {
      try {
        await flush();
      } catch (err) {
        this.fail(err);
      }
    }
  }

  /** Waits for what operators still do after their input completed. */
  async finished(): Promise<void> {
    await Promise.all(this.finishingWork);
  }
}
