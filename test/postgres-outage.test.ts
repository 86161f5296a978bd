import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { EventLog } from '../connectors/log/eventLog.ts';
import { cleanPostgres, POSTGRES_URI, uniqueView } from './support/features.ts';
import { eventLines } from './support/generate.ts';

/**
 * Postgres (the offline store) goes away in the middle of a run — a TCP proxy in front of the real
 * server drops every connection and refuses new ones for a few seconds: the run backs off and
 * retries with a clear message, and once Postgres is reachable again it catches up. The offline
 * table ends exactly as in a run without outage.
 */

const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const upstream = new URL(POSTGRES_URI);

const topology = (view: string) => `
import { aggregate, count, defineTopology, featureView, keyBy, materialize, sum, tumbling, window } from 'rtml';
const spend = featureView({ name: '${view}', features: ['n', 'total'] });
export default defineTopology('pg-outage', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), materialize(spend), sink('out')));
`;

/** A TCP proxy to the real Postgres that can be cut (every connection destroyed, new ones refused) and restored. */
class CuttableProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private down = false;
  connections = 0;

  constructor() {
    this.server = net.createServer((client) => {
      if (this.down) {
        client.destroy();
        return;
      }
      this.connections++;
      const server = net.connect(Number(upstream.port || 5432), upstream.hostname);
      for (const [a, b] of [
        [client, server],
        [server, client],
      ] as const) {
        this.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
  }

  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as net.AddressInfo).port;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

function run(file: string, topic: string, offline: string): { exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [RTML, 'run', file, '--source', `events=log:${topic}`, '--sink', 'out=null:', '--online', 'memory:', '--offline', offline, '--batch-size', '200'], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return { exited: new Promise((resolve) => child.on('exit', resolve)), stderr: () => stderr };
}

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URI });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Every row of the view's offline table, in key order. */
async function tableRows(view: string): Promise<unknown[]> {
  return query(`SELECT entity, event_time::text AS event_time, n, total FROM "fv_${view}" ORDER BY entity, event_time`);
}

/** Waits until the view's table holds rows (the run is writing to Postgres). */
async function firstRows(view: string, exited: () => boolean): Promise<void> {
  for (;;) {
    assert.ok(!exited(), 'the run ended before it wrote to Postgres');
    const [row] = await query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`"fv_${view}"`]);
    if (row?.t != null && (await query(`SELECT 1 FROM "fv_${view}" LIMIT 1`)).length > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('offline store outage', () => {
  it('Postgres unreachable mid-run: the run retries, catches up, and the offline table equals a run without outage', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-pg-outage-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const topic = join(dir, 'events');
    const log = EventLog.open(topic, { create: { partitions: 2 } });
    for (const line of eventLines(150_000, { seed: 5, keys: 500 })) log.append(null, 0, 0, Buffer.from(line));
    log.close();
    const [reference, outage] = [uniqueView('pgref'), uniqueView('pgoutage')];
    cleanPostgres(t, reference, outage);
    writeFileSync(join(dir, 'ref.ts'), topology(reference));
    writeFileSync(join(dir, 'outage.ts'), topology(outage));

    const clean = run(join(dir, 'ref.ts'), topic, POSTGRES_URI);
    assert.equal(await clean.exited, 0, clean.stderr());

    const proxy = new CuttableProxy();
    const port = await proxy.listen();
    t.after(() => proxy.close());
    const offline = new URL(POSTGRES_URI);
    offline.hostname = '127.0.0.1';
    offline.port = String(port);
    const faulty = run(join(dir, 'outage.ts'), topic, offline.href);
    let exited = false;
    void faulty.exited.then(() => (exited = true));
    // Cut once the run is writing, not after a fixed delay (start-up time varies).
    await firstRows(outage, () => exited);
    proxy.cut();
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(!exited, `the run must wait for Postgres, not end: ${faulty.stderr()}`);
    const connectionsBefore = proxy.connections;
    proxy.restore();
    assert.equal(await faulty.exited, 0, faulty.stderr());
    assert.ok(proxy.connections > connectionsBefore, 'the run reconnected after the outage');
    // The reason depends on where the cut found the connection (reset, closed, refused…).
    assert.match(faulty.stderr(), new RegExp(`feature store \\S*:${port}\\S* unreachable \\([^)]+\\); retrying in`));
    assert.match(faulty.stderr(), /reachable again after \d+ retr/);
    assert.match(faulty.stderr(), /row\(s\) written to .* after \d+ retries/);

    const expected = await tableRows(reference);
    assert.ok(expected.length > 1000, `reference rows: ${expected.length}`);
    const got = await tableRows(outage);
    assert.equal(got.length, expected.length);
    assert.deepEqual(got, expected);
  });
});
