import type { RtmlError } from '../engine/errors.ts';
import type { Scope } from './apiKeys.ts';
import type { Authenticator, Principal } from './auth.ts';
import { RateLimiter, rateLimitError, type RateLimit } from './rateLimit.ts';

/**
 * Who may call: credentials for a scope, then the caller's rate limit (its key's own, else the
 * server's default). HTTP routes and WebSocket messages go through the same two steps.
 */
export class Admission {
  private readonly limiter = new RateLimiter();

  constructor(
    private readonly auth: Authenticator,
    /** Limit for principals whose key names none (and for anonymous clients). */
    private readonly rate: RateLimit | undefined,
  ) {}

  /** The principal for `scope`, synchronously when the credentials allow (see Authenticator); throws or rejects with 401/403/503. */
  authenticate(scope: Scope, authorization: string, apiKey: string): Principal | Promise<Principal> {
    return this.auth.authenticate(scope, authorization, apiKey);
  }

  /** Takes one request of `principal` from its rate limit: undefined to go ahead, else the 429 error and the wait until a retry may pass. */
  limit(principal: Principal): { error: RtmlError; waitMs: number } | undefined {
    const rate = principal.rate ?? this.rate;
    if (rate === undefined) return undefined;
    const waitMs = this.limiter.take(principal.id, rate);
    return waitMs === 0 ? undefined : { error: rateLimitError(principal.id, rate, waitMs), waitMs };
  }
}
