/**
 * Per-principal token-bucket rate limiting for `rtml serve`.
 *
 * Each principal id owns a bucket holding up to `burst` tokens, refilled continuously at `perSecond`
 * tokens a second; a request takes one token or is refused with the time until one is available.
 * A bucket that has refilled to full is indistinguishable from a bucket that does not exist, so the
 * limiter forgets full buckets (lazily, in an amortised sweep) and its memory stays bounded by the
 * principals active within one refill period, however many distinct ids it has ever seen.
 */
import { RtmlError } from '../engine/errors.ts';

export interface RateLimit {
  /** Sustained rate: tokens added per second. */
  perSecond: number;
  /** Bucket capacity: requests allowed back to back after an idle period (≥ 1). */
  burst: number;
}

/** One principal's bucket; mutated in place so that a `take` on a known id allocates nothing. */
interface Bucket {
  tokens: number;
  /** Clock reading (ms) when `tokens` was last brought up to date. */
  at: number;
  /** The limit last applied, so the sweep can tell when the bucket is full again. */
  perSecond: number;
  burst: number;
}

/**
 * Fewest `take` calls between two sweeps. A sweep also waits for as many calls as it left buckets
 * behind, so its O(buckets) cost is amortised to O(1) a call.
 */
const MIN_SWEEP_INTERVAL = 1024;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private callsSinceSweep = 0;
  private nextSweepAfter = MIN_SWEEP_INTERVAL;

  /** `now`: a clock in milliseconds (default `performance.now`, monotonic); injectable for tests. */
  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  /**
   * Takes one token from `id`'s bucket under `limit`. Returns 0 when the request is allowed, else the
   * number of milliseconds (≥ 1) until a token will be available; a refused request takes nothing.
   * The caller answers 429 with `Retry-After: retryAfterSeconds(ms)`.
   */
  take(id: string, limit: RateLimit): number {
    const now = this.now();
    if (++this.callsSinceSweep >= this.nextSweepAfter) this.sweep(now);
    const { perSecond, burst } = limit;
    let bucket = this.buckets.get(id);
    if (bucket === undefined) {
      bucket = { tokens: burst, at: now, perSecond, burst };
      this.buckets.set(id, bucket);
    } else {
      const elapsed = now - bucket.at;
      // A clock that steps backwards refills nothing; a limit changed since (key file edited) applies from now on.
      const refilled = bucket.tokens + (elapsed > 0 ? (elapsed * perSecond) / 1000 : 0);
      bucket.tokens = refilled < burst ? refilled : burst;
      bucket.at = now;
      bucket.perSecond = perSecond;
      bucket.burst = burst;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    const wait = Math.ceil(((1 - bucket.tokens) * 1000) / perSecond);
    return wait >= 1 ? wait : 1;
  }

  /** Number of buckets held (principals not yet back to a full bucket, plus any not yet swept). */
  get size(): number {
    return this.buckets.size;
  }

  /** Forgets every bucket that has refilled to full: taking from it again behaves exactly as from a new one. */
  sweep(now: number = this.now()): void {
    this.callsSinceSweep = 0;
    for (const [id, b] of this.buckets) {
      const elapsed = now - b.at;
      if (b.tokens + (elapsed > 0 ? (elapsed * b.perSecond) / 1000 : 0) >= b.burst) this.buckets.delete(id);
    }
    this.nextSweepAfter = Math.max(MIN_SWEEP_INTERVAL, this.buckets.size);
  }

  /** Forgets all buckets. */
  clear(): void {
    this.buckets.clear();
    this.callsSinceSweep = 0;
    this.nextSweepAfter = MIN_SWEEP_INTERVAL;
  }
}

/** The `Retry-After` header value (whole seconds, ≥ 1) for a wait returned by `RateLimiter.take`. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** The 429 error for principal `id` refused by the limiter with a wait of `ms`. */
export function rateLimitError(id: string, limit: RateLimit, ms: number): RtmlError {
  return new RtmlError(
    'RTML_E_HTTP_RATE_LIMIT',
    `rate limit exceeded for "${id}" (${limit.perSecond}/s, burst ${limit.burst}); retry after ${retryAfterSeconds(ms)} s`,
  );
}

/**
 * Validates a rate limit read from configuration (key file, command line); `where` names its origin
 * for the message, e.g. `API key file keys.json: keys[2] (id "app3")`. Throws RTML_E_USAGE.
 */
export function parseRateLimit(value: unknown, where: string): RateLimit {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RtmlError('RTML_E_USAGE', `${where}: rate must be an object { "perSecond": number, "burst": number }`);
  }
  const record = value as Record<string, unknown>;
  for (const field of Object.keys(record)) {
    if (field !== 'perSecond' && field !== 'burst') {
      throw new RtmlError('RTML_E_USAGE', `${where}: rate has an unknown field "${field}" (expected perSecond, burst)`);
    }
  }
  const { perSecond, burst } = record;
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0) {
    throw new RtmlError('RTML_E_USAGE', `${where}: rate.perSecond must be a positive number, got ${JSON.stringify(perSecond)}`);
  }
  if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1) {
    throw new RtmlError('RTML_E_USAGE', `${where}: rate.burst must be a number ≥ 1, got ${JSON.stringify(burst)}`);
  }
  return { perSecond, burst };
}
