import { RtmlError, errorMessage } from '../engine/errors.ts';

/**
 * Store failures that go away when the service comes back (the writer retries them with backoff)
 * versus everything else (a bad statement, a type error: retrying would not help, the run fails).
 */

/** Thrown by a store that knows it cannot reach its service right now. */
export class StoreUnreachableError extends RtmlError {
  /** Short cause for the log line, e.g. ECONNREFUSED. */
  readonly reason: string;
  constructor(store: string, reason: string, options?: { cause?: unknown }) {
    super('RTML_E_STORE', `feature store ${store} unreachable (${reason})`, options);
    this.name = 'StoreUnreachableError';
    this.reason = reason;
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// Postgres SQLSTATEs: class 08 connection exceptions, shutdowns, "cannot connect now", too many connections.
const PG_TRANSIENT = /^(08...|57P0[123]|53300)$/;
const DRIVER_MESSAGES = /Connection terminated|Connection is closed|Command aborted due to connection close|Stream isn't writeable|max retries per request|timeout exceeded when trying to connect|Client has encountered a connection error/i;

/** The short reason when `err` means "service unreachable, try again later"; undefined otherwise. */
export function unreachableReason(err: unknown): string | undefined {
  if (err instanceof StoreUnreachableError) return err.reason;
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || PG_TRANSIENT.test(code))) return code;
  // Node reports a refused connection to every address of a host name as one AggregateError.
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const reason = unreachableReason(inner);
      if (reason !== undefined) return reason;
    }
  }
  const message = errorMessage(err);
  return DRIVER_MESSAGES.test(message) ? message.replace(/\.$/, '') : undefined;
}
