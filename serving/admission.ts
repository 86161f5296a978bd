import type { HttpResponse } from 'uWebSockets.js';
import type { RtmlError } from '../engine/errors.ts';
import type { Scope } from './apiKeys.ts';
import type { AuditLog } from './auditLog.ts';
import { statusOf } from './http.ts';
import type { Authenticator, Principal } from './auth.ts';
import { RateLimiter, rateLimitError, type RateLimit } from './rateLimit.ts';

/**
 * Who may call: credentials for a scope, then the caller's rate limit (its key's own, else the
 * server's default). HTTP routes and WebSocket messages go through the same two steps. With an
 * audit log, every admission is counted for its principal and every refusal written down.
 */
export class Admission {
  private readonly limiter = new RateLimiter();

  constructor(
    private readonly auth: Authenticator,
    /** Limit for principals whose key names none (and for anonymous clients). */
    private readonly rate: RateLimit | undefined,
    private readonly audit?: AuditLog,
  ) {}

  /**
   * The principal for `scope` on `route`, synchronously when the credentials allow (see
   * Authenticator); throws or rejects with 401/403/503. `res` is read for the client's address
   * when a refusal is audited.
   */
  authenticate(scope: Scope, authorization: string, apiKey: string, route: string, res: HttpResponse): Principal | Promise<Principal> {
    const audit = this.audit;
    if (audit === undefined) return this.auth.authenticate(scope, authorization, apiKey);
    const refused = (err: unknown, remote: string) => audit.denied(route, { authorization, apiKey }, err, remote, statusOf(err));
    let principal: Principal | Promise<Principal>;
    try {
      principal = this.auth.authenticate(scope, authorization, apiKey);
    } catch (err) {
      refused(err, remoteAddress(res));
      throw err;
    }
    if (!(principal instanceof Promise)) {
      audit.used(principal.id, route);
      return principal;
    }
    // The response may be aborted before the JWKS answers: its address is read now.
    const remote = remoteAddress(res);
    return principal.then(
      (p) => {
        audit.used(p.id, route);
        return p;
      },
      (err: unknown) => {
        refused(err, remote);
        throw err;
      },
    );
  }

  /** Takes one request of `principal` from its rate limit: undefined to go ahead, else the 429 error and the wait until a retry may pass. */
  limit(principal: Principal): { error: RtmlError; waitMs: number } | undefined {
    const rate = principal.rate ?? this.rate;
    if (rate === undefined) return undefined;
    const waitMs = this.limiter.take(principal.id, rate);
    return waitMs === 0 ? undefined : { error: rateLimitError(principal.id, rate, waitMs), waitMs };
  }
}

function remoteAddress(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}
