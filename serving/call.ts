import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Admission } from './admission.ts';
import type { Principal } from './auth.ts';
import { Exchange, parseJson, type BodyReceiver } from './http.ts';
import type { ServingMetrics } from './metrics.ts';
import { retryAfterSeconds } from './rateLimit.ts';
import type { BoundRoute } from './routes/route.ts';

/**
 * One request on one route: the exchange, who is calling and the body text. Credentials and the
 * body arrive in either order (a JWT may need a JWKS round trip while the body streams in); the
 * handler runs once both are there, with the body parsed (400 if it is not JSON) and validated
 * against the route's schema (400 naming the field).
 */
export class Call extends Exchange implements BodyReceiver {
  private principal: Principal | undefined;
  private text: string | undefined;

  constructor(
    res: HttpResponse,
    req: HttpRequest,
    private readonly bound: BoundRoute,
    metrics: ServingMetrics,
  ) {
    super(res, req, bound.params, bound.route.name, metrics);
  }

  /** Credentials for the route's scope, then the rate limit; the call proceeds, or is answered with the error. */
  admit(admission: Admission): void {
    const scope = this.bound.route.scope;
    if (scope === null) {
      this.admitted(ANYONE);
      return;
    }
    let principal: Principal | Promise<Principal>;
    try {
      principal = admission.authenticate(scope, this.authorization, this.apiKey, this.route, this.res);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (principal instanceof Promise) principal.then((p) => this.limit(admission, p), (err: unknown) => this.fail(err));
    else this.limit(admission, principal);
  }

  received(text: string): void {
    this.text = text;
    this.proceed();
  }

  private limit(admission: Admission, principal: Principal): void {
    const refused = admission.limit(principal);
    if (refused === undefined) this.admitted(principal);
    else this.header('retry-after', String(retryAfterSeconds(refused.waitMs))).fail(refused.error);
  }

  private admitted(principal: Principal): void {
    this.principal = principal;
    this.proceed();
  }

  private proceed(): void {
    const { validate, route, context } = this.bound;
    if (this.principal === undefined || (validate !== null && this.text === undefined) || this.ended) return;
    try {
      const pending = route.handle(this, validate === null ? undefined : validate(parseJson(this.text!)), context);
      if (pending instanceof Promise) pending.catch((err: unknown) => this.fail(err));
    } catch (err) {
      this.fail(err);
    }
  }
}

/** Who calls a route that needs no scope. */
const ANYONE: Principal = { id: 'anonymous', scopes: new Set() };
