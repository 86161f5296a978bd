import pg from 'pg';
import { errorMessage } from '../../engine/errors.ts';
import { Backoff, redactUri } from '../../storage/index.ts';
import { CHANNEL } from './schema.ts';

/**
 * One LISTEN connection to Postgres shared by a registry's watchers. LISTEN needs a connection of its
 * own for as long as it listens, which the pooled SqlClient cannot lend, hence this small client.
 *
 * 1. Connected at the first subscriber, closed after the last one leaves.
 * 2. Postgres does not keep notifications for a listener that is away: when the connection drops,
 *    it reconnects with backoff (250 ms doubling to 5 s) and then tells every subscriber `missed`,
 *    so each re-reads its state instead of trusting that nothing happened meanwhile.
 */

export interface Notification {
  /** A notification's payload, or null after a reconnect: something may have been missed. */
  readonly payload: string | null;
}

export type Subscriber = (n: Notification) => void;

export interface Listener {
  /** Resolves once LISTEN is active (so no later commit goes unheard); returns the unsubscribe. */
  subscribe(fn: Subscriber, onError: (err: Error) => void): Promise<() => Promise<void>>;
}

/** Shows the LISTEN connection for what it is in pg_stat_activity. */
export const APPLICATION_NAME = 'rtml-registry-watch';

export function postgresListener(uri: string): Listener {
  const subscribers = new Map<Subscriber, (err: Error) => void>();
  let client: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  const backoff = new Backoff(250, 5_000);

  const report = (err: Error) => {
    for (const onError of subscribers.values()) onError(err);
  };

  async function connect(): Promise<void> {
    const c = new pg.Client({ connectionString: uri, connectionTimeoutMillis: 5_000, application_name: APPLICATION_NAME });
    c.on('notification', (msg) => {
      if (msg.channel !== CHANNEL) return;
      for (const fn of subscribers.keys()) fn({ payload: msg.payload ?? '' });
    });
    c.on('error', () => lost(c, 'connection error'));
    c.on('end', () => lost(c, 'connection ended'));
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      c.end().catch(() => {});
      throw new Error(`registry watch: cannot LISTEN on ${redactUri(uri)}: ${errorMessage(err)}`, { cause: err });
    }
    client = c;
    backoff.reset();
  }

  function lost(c: pg.Client, why: string): void {
    if (client !== c) return; // already replaced, or closed on purpose
    client = undefined;
    c.end().catch(() => {});
    if (subscribers.size === 0) return;
    report(new Error(`registry watch: ${why} on ${redactUri(uri)}; reconnecting`));
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (retry !== undefined || subscribers.size === 0) return;
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(
        () => {
          for (const fn of subscribers.keys()) fn({ payload: null });
        },
        (err: Error) => {
          report(err);
          scheduleReconnect();
        },
      );
    }, backoff.next());
  }

  return {
    async subscribe(fn, onError) {
      if (client === undefined && retry === undefined) {
        connecting ??= connect().finally(() => (connecting = undefined));
        await connecting;
      }
      subscribers.set(fn, onError);
      return async () => {
        subscribers.delete(fn);
        if (subscribers.size > 0) return;
        if (retry !== undefined) clearTimeout(retry);
        retry = undefined;
        const c = client;
        client = undefined;
        await c?.end().catch(() => {});
      };
    },
  };
}
