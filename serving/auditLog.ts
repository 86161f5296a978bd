import pino from 'pino';
import { RtmlError, errorMessage } from '../engine/errors.ts';
import { hashApiKey } from './apiKeys.ts';

/** How a refused caller presented itself: never the credential itself. */
export interface Presented {
  readonly authorization: string;
  readonly apiKey: string;
}

/**
 * `rtml serve --audit-log FILE`: who used the server, as JSON lines (appended through pino's
 * buffered file writer).
 *
 * - `key.denied`, at once, for every refused credential (401/403): the route, how the caller
 *   presented itself (`api-key`, `bearer` or `none`), a fingerprint of a presented API key (the
 *   first 16 hex digits of its sha256, which the key file stores: a revoked or mistyped key can be
 *   told apart without the log ever holding a usable secret), the status, the reason and the
 *   client address.
 * - `key.used`, per principal and route, every `interval` and at close: how many requests it was
 *   admitted for and between which times. A line per admitted request would cost more than the
 *   request at 20k requests a second; the count per interval is what an audit asks (who, what, when).
 */
export class AuditLog {
  private readonly destination: ReturnType<typeof pino.destination>;
  private uses = new Map<string, Use>();
  private readonly timer: NodeJS.Timeout;

  constructor(file: string, intervalMs = 60_000) {
    try {
      this.destination = pino.destination({ dest: file, sync: false, append: true, mkdir: true, minLength: 4096 });
    } catch (err) {
      throw new RtmlError('RTML_E_USAGE', `--audit-log ${file}: ${errorMessage(err)}`, { cause: err });
    }
    this.timer = setInterval(() => this.flushUses(), intervalMs).unref();
  }

  /** A principal was admitted to `route`. */
  used(principal: string, route: string): void {
    const id = `${principal}\u0000${route}`;
    const now = Date.now();
    const use = this.uses.get(id);
    if (use === undefined) this.uses.set(id, { principal, route, requests: 1, from: now, to: now });
    else {
      use.requests++;
      use.to = now;
    }
  }

  /** A credential was refused on `route` with `err` (401/403/503). */
  denied(route: string, presented: Presented, err: unknown, remote: string, status: number): void {
    const key = presented.apiKey !== '' ? presented.apiKey.trim() : /^Bearer[ \t]+(\S+)/i.exec(presented.authorization)?.[1];
    const credential = presented.apiKey !== '' ? 'api-key' : presented.authorization !== '' ? 'bearer' : 'none';
    this.write({
      event: 'key.denied',
      route,
      credential,
      ...(key === undefined || key === '' ? {} : { fingerprint: hashApiKey(key).slice(0, 16) }),
      status,
      reason: errorMessage(err),
      remote,
    });
  }

  /** Writes the pending `key.used` lines and everything buffered, then closes the file. */
  close(): void {
    clearInterval(this.timer);
    this.flushUses();
    this.destination.flushSync();
    this.destination.end();
  }

  private write(entry: Record<string, unknown>): void {
    this.destination.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  }

  private flushUses(): void {
    if (this.uses.size === 0) return;
    const uses = this.uses;
    this.uses = new Map();
    for (const u of uses.values()) {
      this.write({ event: 'key.used', principal: u.principal, route: u.route, requests: u.requests, from: new Date(u.from).toISOString(), to: new Date(u.to).toISOString() });
    }
  }
}

interface Use {
  readonly principal: string;
  readonly route: string;
  requests: number;
  from: number;
  to: number;
}
