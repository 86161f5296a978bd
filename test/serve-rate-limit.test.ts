import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtmlError } from '../engine/errors.ts';
import { RateLimiter, parseRateLimit, rateLimitError, retryAfterSeconds } from '../serving/rateLimit.ts';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('serve: token-bucket rate limiter', () => {
  it('allows a burst, then refuses with the wait until the next token, then refills', () => {
    const clock = manualClock();
    const limiter = new RateLimiter(clock.now);
    const limit = { perSecond: 10, burst: 3 }; // one token every 100 ms
    assert.deepEqual([1, 2, 3].map(() => limiter.take('a', limit)), [0, 0, 0]);
    assert.equal(limiter.take('a', limit), 100);
    assert.equal(limiter.take('a', limit), 100, 'a refused request takes nothing');
    clock.advance(40);
    assert.equal(limiter.take('a', limit), 60);
    clock.advance(60);
    assert.equal(limiter.take('a', limit), 0, 'one token back after 100 ms');
    assert.equal(limiter.take('a', limit), 100);
    clock.advance(10_000);
    assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('a', limit)), [0, 0, 0, 100], 'refill is capped at the burst');
  });

  it('keeps one bucket per principal', () => {
    const clock = manualClock();
    const limiter = new RateLimiter(clock.now);
    const limit = { perSecond: 1, burst: 1 };
    assert.equal(limiter.take('a', limit), 0);
    assert.equal(limiter.take('a', limit), 1000);
    assert.equal(limiter.take('b', limit), 0, 'b has its own bucket');
    assert.equal(limiter.take('b', limit), 1000);
  });

  it('computes waits for slow rates and Retry-After in whole seconds, at least 1', () => {
    const clock = manualClock();
    const limiter = new RateLimiter(clock.now);
    const limit = { perSecond: 0.5, burst: 1 };
    assert.equal(limiter.take('slow', limit), 0);
    const wait = limiter.take('slow', limit);
    assert.equal(wait, 2000);
    assert.equal(retryAfterSeconds(wait), 2);
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(1000), 1);
    assert.equal(retryAfterSeconds(1001), 2);
    const err = rateLimitError('app1', limit, wait);
    assert.equal(err.code, 'RTML_E_HTTP_RATE_LIMIT');
    assert.match(err.message, /"app1".*retry after 2 s/);
  });

  it('forgets idle (full) buckets so millions of distinct ids keep the map bounded', () => {
    const clock = manualClock();
    const limiter = new RateLimiter(clock.now);
    const limit = { perSecond: 1000, burst: 5 }; // a used bucket is full again 1 ms later
    for (let i = 0; i < 200_000; i++) {
      if (i % 100 === 0) clock.advance(1);
      assert.equal(limiter.take(`user-${i}`, limit), 0);
    }
    assert.ok(limiter.size < 3000, `map holds ${limiter.size} buckets for 200000 distinct ids`);
  });

  it('never forgets a bucket that is not full: an exhausted principal stays limited across sweeps', () => {
    const clock = manualClock();
    const limiter = new RateLimiter(clock.now);
    const limit = { perSecond: 1, burst: 2 };
    assert.equal(limiter.take('hot', limit), 0);
    assert.equal(limiter.take('hot', limit), 0);
    for (let i = 0; i < 5000; i++) limiter.take(`idle-${i}`, limit); // triggers lazy sweeps
    clock.advance(500);
    limiter.sweep();
    assert.equal(limiter.take('hot', limit), 500, 'still refused, with the remaining wait');
    clock.advance(2000);
    limiter.sweep();
    assert.equal(limiter.size, 0, 'every bucket is full after 2 s idle and is dropped');
    assert.equal(limiter.take('hot', limit), 0);
  });

  it('validates configured limits', () => {
    assert.deepEqual(parseRateLimit({ perSecond: 5, burst: 10 }, 'x'), { perSecond: 5, burst: 10 });
    for (const [bad, pattern] of [
      [{ perSecond: 0, burst: 1 }, /perSecond must be a positive number/],
      [{ perSecond: 5, burst: 0.5 }, /burst must be a number ≥ 1/],
      [{ perSecond: 5 }, /burst/],
      [{ perSecond: 5, burst: 5, per: 1 }, /unknown field "per"/],
      [[5, 5], /must be an object/],
    ] as const) {
      assert.throws(
        () => parseRateLimit(bad, 'where'),
        (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_USAGE' && pattern.test(err.message) && err.message.startsWith('where: '),
        JSON.stringify(bad),
      );
    }
  });
});
