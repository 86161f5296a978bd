import { errorMessage } from '../../engine/errors.ts';
import type { Listener } from './listen.ts';
import type { Routing } from './routing.ts';
import { logLine } from '../../engine/log.ts';

/**
 * Tells a running process when a model's routing changes, without a restart.
 *
 * Delivery guarantees:
 * 1. `onChange` gets the routing as committed, never a change that was rolled back: the NOTIFY is
 *    sent inside the transaction that makes the change, and Postgres delivers it at commit.
 * 2. Latest state, not every step: calls are serialised (the next waits for the previous
 *    `onChange` to settle), revisions strictly increase, and changes that land while a read is
 *    under way are coalesced into one call with the newest routing. So a watcher may skip
 *    intermediate routings, but never sees an older one after a newer one, and always ends on the
 *    latest.
 * 3. With Postgres, LISTEN/NOTIFY delivers within milliseconds of the commit. Notifications are not
 *    kept for a dropped connection: after reconnecting the watcher re-reads the routing, and a slow
 *    safety poll (`safetyPollMs`, 5 s) covers anything else; so a change is seen at the latest one
 *    poll after the database is reachable again.
 * 4. With PGlite (one process, no LISTEN across connections), the revision is polled every
 *    `pollMs` (500 ms): a change is seen within about that.
 * 5. Failures to read (database down) go to `onError` and the watch keeps trying; an `onChange`
 *    that throws goes to `onError` too, and the next change is still delivered.
 */

export interface WatchOptions {
  /** Poll interval without LISTEN (PGlite), ms (default 500). */
  readonly pollMs?: number;
  /** Safety poll interval with LISTEN (Postgres), ms (default 5000). */
  readonly safetyPollMs?: number;
  /** Read failures and `onChange` failures; default: one line on stderr. */
  readonly onError?: (err: Error) => void;
}

export interface RoutingWatch {
  /** The routing when the watch started; changes after it are delivered to `onChange`. */
  readonly initial: Routing;
  close(): Promise<void>;
}

export interface WatchSource {
  readonly name: string;
  readRouting(): Promise<Routing>;
  readRevision(): Promise<number>;
  /** LISTEN/NOTIFY when the database offers it across connections (Postgres). */
  readonly listener?: Listener;
}

export async function startWatch(source: WatchSource, onChange: (routing: Routing) => void | Promise<void>, options: WatchOptions = {}): Promise<RoutingWatch> {
  const onError = options.onError ?? ((err: Error) => logLine(`rtml: ${err.message}`, 'warn'));
  let last = -1;
  let closed = false;
  let running: Promise<void> | undefined;
  let again = false;

  /** Reads the routing and delivers it when newer; one at a time, coalescing requests that arrive meanwhile. */
  function refresh(): void {
    if (closed) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          const routing = await source.readRouting();
          if (closed || routing.revision <= last) continue;
          last = routing.revision;
          await onChange(routing);
        } catch (err) {
          if (!closed) onError(asError(err, `registry watch of '${source.name}'`));
        }
      } while (again && !closed);
    })().finally(() => (running = undefined));
  }

  async function poll(): Promise<void> {
    try {
      if ((await source.readRevision()) > last) refresh();
    } catch (err) {
      if (!closed) onError(asError(err, `registry watch of '${source.name}'`));
    }
  }

  // Listen before reading the baseline: a change committed in between is then heard, not lost.
  // What is heard before the baseline is known waits for it (then refresh delivers only if newer).
  let started = false;
  let heardEarly = false;
  const unsubscribe = await source.listener?.subscribe((n) => {
    if (n.payload !== null && !isFor(n.payload, source.name, last)) return;
    if (started) refresh();
    else heardEarly = true;
  }, onError);
  let initial: Routing;
  try {
    initial = await source.readRouting();
  } catch (err) {
    await unsubscribe?.();
    throw err;
  }
  last = initial.revision;
  started = true;
  if (heardEarly) refresh();
  const every = source.listener === undefined ? (options.pollMs ?? 500) : (options.safetyPollMs ?? 5_000);
  const timer = setInterval(() => void poll(), every);

  return {
    initial,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await unsubscribe?.();
      await running;
    },
  };
}

/** Whether a `{"name","revision"}` payload announces a newer revision of `name`; unreadable payloads count as yes. */
function isFor(payload: string, name: string, last: number): boolean {
  try {
    const p = JSON.parse(payload) as { name?: unknown; revision?: unknown };
    return p.name === name && (typeof p.revision !== 'number' || p.revision > last);
  } catch {
    return true;
  }
}

function asError(err: unknown, context: string): Error {
  return new Error(`${context}: ${errorMessage(err)}`, { cause: err });
}
