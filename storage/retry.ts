import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Retry with exponential backoff, the one implementation behind every "service unreachable, try
 * again" loop: the feature store's writes and reads, the registry's LISTEN connection, and the
 * connectors that wait for their service at start (Kafka, Kinesis, Pub/Sub, the schema registry).
 * Callers keep their own words (log lines, errors); the waiting, the doubling and the giving up
 * live here.
 */

/** Waits that double from `initialMs` up to `maxMs`, back to `initialMs` on reset(). */
export class Backoff {
  private delay: number;

  constructor(
    readonly initialMs: number,
    readonly maxMs: number,
  ) {
    this.delay = initialMs;
  }

  /** The wait before the next attempt; the one after it is doubled (up to maxMs). */
  next(): number {
    const delay = this.delay;
    this.delay = Math.min(delay * 2, this.maxMs);
    return delay;
  }

  reset(): void {
    this.delay = this.initialMs;
  }
}

/** One failed attempt about to be retried. */
export interface RetryAttempt {
  /** Why it failed, short (as `retryable` gave it). */
  readonly reason: string;
  /** Failed attempts so far, this one included. */
  readonly failures: number;
  /** The wait before the next attempt. */
  readonly delayMs: number;
}

/** Why retrying stopped without success: the budget is spent, or the signal aborted the wait. */
export interface RetryGiveUp {
  readonly reason: string;
  readonly failures: number;
  /** Since the first attempt. */
  readonly elapsedMs: number;
  /** The last attempt's error. */
  readonly error: unknown;
}

export interface RetryPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Retrying stops once this long has passed since the first attempt (the last wait is cut to fit); default never. */
  readonly giveUpAfterMs?: number;
  /** Aborting it ends a wait at once, giving up. */
  readonly signal?: AbortSignal;
  /** Why `err` may go away by waiting (a short reason); undefined: retrying would not help, it is rethrown as is. */
  retryable(err: unknown): string | undefined;
  /** Before each wait (log lines, counters). */
  onRetry?(attempt: RetryAttempt): void;
  /** After a success that followed failures. */
  onRecovered?(failures: number, elapsedMs: number): void;
  /** The error thrown when retrying stops without success. */
  giveUp(why: RetryGiveUp): Error;
}

/** Runs `attempt` until it succeeds, waiting out the failures `policy.retryable` accepts. */
export async function retryWithBackoff<T>(attempt: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  const backoff = new Backoff(policy.initialMs, policy.maxMs);
  const started = Date.now();
  let failures = 0;
  for (;;) {
    try {
      const result = await attempt();
      if (failures > 0) policy.onRecovered?.(failures, Date.now() - started);
      return result;
    } catch (err) {
      const reason = policy.retryable(err);
      if (reason === undefined) throw err;
      failures++;
      const elapsedMs = Date.now() - started;
      const left = policy.giveUpAfterMs === undefined ? Infinity : policy.giveUpAfterMs - elapsedMs;
      if (left <= 0) throw policy.giveUp({ reason, failures, elapsedMs, error: err });
      const delayMs = Math.min(backoff.next(), left);
      policy.onRetry?.({ reason, failures, delayMs });
      try {
        await sleep(delayMs, undefined, { signal: policy.signal });
      } catch {
        throw policy.giveUp({ reason, failures, elapsedMs: Date.now() - started, error: err });
      }
    }
  }
}
