import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RTML = join(ROOT, 'bin/rtml.mjs');

/** Runs `rtml …` from the project root, as a user would with `npx rtml`. */
function rtml(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [RTML, ...args], { cwd: ROOT, input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const schema = {
  type: 'record',
  name: 'Txn',
  fields: [
    { name: 'card_id', type: 'string' },
    { name: 'merchant_id', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
};

// A topology kept outside the repository, importing 'rtml' and plain rxjs.
const topologySource = `
import { filter } from 'rxjs';
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';

export default defineTopology('outside', ({ source, sink }) =>
  source('events', { schema: 'txn.avsc', time: 'ts', outOfOrder: '1s' }).pipe(
    filter((e: { amount: number }) => e.amount >= 0),
    keyBy('card_id'),
    window(tumbling('10s'), { late: 'late' }),
    aggregate({ n: count(), total: sum('amount') }),
    sink('out'),
  ),
);
`;

const txn = (card: string, ts: number, amount = 10) => JSON.stringify({ card_id: card, merchant_id: 'm1', amount, ts });

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-cli-'));
  writeFileSync(join(dir, 'txn.avsc'), JSON.stringify(schema));
  writeFileSync(join(dir, 'topo.ts'), topologySource);
});

describe('rtml CLI, end to end', () => {
  it('produce validates lines against the schema, appends the good ones and reports the bad ones', () => {
    const lines = [txn('c1', 1000), '{not json', txn('c2', 2000), JSON.stringify({ card_id: 'c3', amount: 5, ts: 3000 }), txn('c1', 12_000), txn('c3', 25_000), txn('c1', 4000)];
    const r = rtml(['produce', `log:${dir}/data/txns`, '--schema', join(dir, 'txn.avsc'), '--key', 'card_id', '--partitions', '3'], `${lines.join('\n')}\n`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /line 2: invalid JSON/);
    assert.match(r.stderr, /line 4: schema Txn mismatch: field 'merchant_id': missing/);
    assert.match(r.stderr, /appended 5 record\(s\) to log:.*\(3 partition\(s\)\), rejected 2/);
  });

  it('log info and log cat show partitions, offsets, schema ids and decoded records', () => {
    const info = rtml(['log', 'info', `log:${dir}/data/txns`]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /3 partition\(s\), 5 record\(s\)/);
    assert.match(info.stdout, /id 1: Txn \(fingerprint [0-9a-f]{32}\)/);
    const cat = rtml(['log', 'cat', `log:${dir}/data/txns`]);
    assert.equal(cat.code, 0, cat.stderr);
    const records = cat.stdout.trim().split('\n').map((l) => JSON.parse(l) as { partition: number; offset: number; key: string; timestamp: number; schema: number; value: { ts: number } });
    assert.equal(records.length, 5);
    for (const r of records) {
      assert.equal(r.schema, 1);
      assert.equal(r.timestamp, r.value.ts);
    }
    // Keyed: all of a card's records are in one partition, in append order.
    const c1 = records.filter((r) => r.key === 'c1');
    assert.equal(new Set(c1.map((r) => r.partition)).size, 1);
    assert.deepEqual(c1.map((r) => r.value.ts), [1000, 12_000, 4000]);
  });

  it('run executes a topology file outside the repo over the log and prints a summary whose counts add up', () => {
    const out = join(dir, 'out.jsonl');
    const r = rtml(['run', join(dir, 'topo.ts'), '--source', `events=log:${dir}/data/txns`, '--sink', `out=file:${out}`, '--sink', `late=file:${join(dir, 'late.jsonl')}`, '--sink', `dlq=file:${join(dir, 'dlq.jsonl')}`]);
    assert.equal(r.code, 0, r.stderr);
    const m = /rtml: outside: events in (\d+), processed (\d+), late (\d+), dead-lettered (\d+), results out (\d+), elapsed [\d.]+s, [\d,]+ events\/s/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const [, inN, processed, late, dead, results] = m.map(Number);
    assert.equal(inN, 5);
    assert.equal(inN, processed! + late! + dead!);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rows.length, results);
    assert.deepEqual(
      rows.map((x) => `${x.key}@${x.window_start}:${x.n}`).sort(),
      ['c1@0:2', 'c1@10000:1', 'c2@0:1', 'c3@20000:1'].sort(),
    );
  });

  it('reads a JSON-lines file as a bounded source and exits 0', () => {
    const input = join(dir, 'events.jsonl');
    writeFileSync(input, [txn('a', 1), txn('a', 2), txn('b', 15_000), '{"card_id":"a"}'].join('\n'));
    const r = rtml(['run', join(dir, 'topo.ts'), '--source', `events=file:${input}`, '--sink', `out=file:${join(dir, 'f.jsonl')}`, '--sink', `dlq=file:${join(dir, 'fdlq.jsonl')}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /events in 4, processed 3, late 0, dead-lettered 1, results out 2/);
    const dlq = JSON.parse(readFileSync(join(dir, 'fdlq.jsonl'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(dlq), ['reason', 'source', 'partition', 'offset', 'payload']);
    assert.equal(dlq.offset, 3);
  });

  it('shows a progress bar when stderr is a terminal, and none otherwise', () => {
    const input = join(dir, 'many.jsonl');
    writeFileSync(input, `${Array.from({ length: 60_000 }, (_, i) => txn(`c${i % 100}`, i * 10)).join('\n')}\n`);
    const args = ['run', join(dir, 'topo.ts'), '--source', `events=file:${input}`, '--sink', `out=file:${join(dir, 'many-out.jsonl')}`];
    const quoted = [process.execPath, RTML, ...args].map((a) => `'${a}'`).join(' ');
    // `script` gives the child a pseudo-terminal, as an interactive shell would.
    const tty = spawnSync('script', ['-qec', quoted, '/dev/null'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(tty.status, 0, tty.stdout);
    assert.match(tty.stdout, /\d+% \| [\d,]+ events \| [\d,]+ events\/s \| ETA/);
    const piped = rtml(args);
    assert.equal(piped.code, 0);
    assert.doesNotMatch(piped.stderr, /ETA/);
  });

  it('start-up mistakes are one clear line, not a stack dump', () => {
    const unbound = rtml(['run', join(dir, 'topo.ts'), '--source', `events=log:${dir}/data/txns`]);
    assert.equal(unbound.code, 1);
    assert.match(unbound.stderr, /sink 'out' is not bound: add --sink out=URI \(topology 'outside' has sources: events; sinks: out; late outputs \(optional\): late; dead letters \(optional\): dlq\)/);
    assert.doesNotMatch(unbound.stderr, /\n\s+at /);

    writeFileSync(join(dir, 'syntax.ts'), "import { defineTopology } from 'rtml';\nexport default defineTopology('x', ({ source }) => source('e', { time: 't' }).pipe(\n");
    const syntax = rtml(['run', join(dir, 'syntax.ts')]);
    assert.equal(syntax.code, 1);
    assert.match(syntax.stderr, /RTML_E_TOPOLOGY_LOAD.*cannot load topology .*syntax\.ts: .*syntax\.ts:\d+:\d+: ERROR/s);
    assert.doesNotMatch(syntax.stderr, /\n\s+at /);

    writeFileSync(join(dir, 'unknown.ts'), "import { defineTopology, slidingWindow } from 'rtml';\nexport default defineTopology('x', () => slidingWindow());\n");
    const unknown = rtml(['run', join(dir, 'unknown.ts')]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown\.ts.*does not provide an export named 'slidingWindow'/s);

    writeFileSync(join(dir, 'duration.ts'), "import { defineTopology, keyBy, window, tumbling, aggregate, count } from 'rtml';\nexport default defineTopology('x', ({ source, sink }) =>\n  source('events', { time: 't' }).pipe(keyBy('k'), window(tumbling('5 mins')), aggregate({ n: count() }), sink('out')));\n");
    const duration = rtml(['run', join(dir, 'duration.ts'), '--source', `events=file:${join(dir, 'events.jsonl')}`, '--sink', `out=file:${join(dir, 'x.jsonl')}`]);
    assert.equal(duration.code, 1);
    assert.match(duration.stderr, /RTML_E_DURATION.*tumbling\(\) size: "5 mins" is not a duration .* at .*duration\.ts:3:\d+/);

    const badUri = rtml(['run', join(dir, 'topo.ts'), '--source', 'events=mqtt://x/y', '--sink', `out=file:${join(dir, 'x.jsonl')}`]);
    assert.match(badUri.stderr, /--source events: "mqtt:\/\/x\/y" is not a supported URI/);
    const untouched = join(dir, 'untouched.jsonl');
    const badKafka = rtml(['run', join(dir, 'topo.ts'), '--source', 'events=kafka://x/y', '--sink', `out=file:${untouched}`]);
    assert.equal(badKafka.code, 1);
    assert.ok(!existsSync(untouched), 'a bad source URI fails the run before any output is opened');
    assert.match(badKafka.stderr, /^rtml: error RTML_E_URI \(bad source or sink URI\): "kafka:\/\/x\/y": brokers "x" must be host:port.*\n$/);
  });

  it('--follow processes appends live and stops cleanly on SIGTERM', async () => {
    const topic = `log:${dir}/data/live`;
    const produce = (lines: string[]) => rtml(['produce', topic, '--schema', join(dir, 'txn.avsc'), '--key', 'card_id'], `${lines.join('\n')}\n`);
    assert.equal(produce([txn('x', 1000)]).code, 0);
    const out = join(dir, 'live.jsonl');
    const child = spawn(process.execPath, [RTML, 'run', join(dir, 'topo.ts'), '--source', `events=${topic}`, '--sink', `out=file:${out}`, '--follow'], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      // Appended after the run started: x's window [0, 10s) fires when t=20s arrives (W = 19s).
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(produce([txn('x', 2000), txn('y', 20_000)]).code, 0);
      const until = Date.now() + 10_000;
      while (!(existsSync(out) && readFileSync(out, 'utf8').includes('"key":"x"'))) {
        if (Date.now() > until) throw new Error(`no live output; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(JSON.parse(readFileSync(out, 'utf8').trim()), { key: 'x', window_start: 0, window_end: 10_000, n: 2, total: 20 });
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /events in 3, processed 3/);
  });
});

