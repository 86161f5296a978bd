import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EventLog } from '../connectors/log/eventLog.ts';
import { prng } from './support/generate.ts';

/**
 * A join topology as users run it: topologies/labelled-predictions.ts over two topics of the
 * embedded log, with `rtml run` and `rtml replay` as child processes. Predictions are joined with
 * outcomes that arrive up to two days later; a few outcomes are back-dated by hours (late).
 */

const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOPOLOGY = join(ROOT, 'topologies', 'labelled-predictions.ts');
const HOUR = 3_600_000;
const PREDICTIONS = 3000;
const START = 1_700_000_000_000;

let dir: string;
let predictions: string;
let outcomes: string;
/** txn ids with an outcome that is not late and lies within a day of its prediction. */
const labelled = new Set<string>();

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-joins-cli-'));
  predictions = join(dir, 'predictions');
  outcomes = join(dir, 'outcomes');
  const rand = prng(3);
  const start = START;
  const preds = EventLog.open(predictions, { create: { partitions: 2 } });
  const known: { txn_id: string; is_fraud: boolean; ts: number }[] = [];
  for (let i = 0; i < PREDICTIONS; i++) {
    const ts = start + i * 60_000 - Math.floor(rand() * 3000);
    const txn = `t${i}`;
    const score = Math.round(rand() * 1000) / 1000;
    preds.append(txn, ts, 0, Buffer.from(JSON.stringify({ txn_id: txn, card_id: `c${i % 40}`, ts, score, label: score >= 0.5 ? 1 : 0, model: 'fraud', version: '3' })));
    if (rand() < 0.4) known.push({ txn_id: txn, is_fraud: rand() < 0.1, ts: ts + Math.floor(rand() * 48 * HOUR) });
  }
  preds.close();
  known.sort((a, b) => a.ts - b.ts);
  const log = EventLog.open(outcomes, { create: { partitions: 2 } });
  for (const [i, outcome] of known.entries()) {
    // Every 25th outcome is written hours after its time: later than outOfOrder + lateness.
    const late = i % 25 === 24;
    const ts = late ? outcome.ts - 3 * HOUR : outcome.ts;
    const labelledTxn = Number(outcome.txn_id.slice(1));
    if (!late && ts - (start + labelledTxn * 60_000) <= 24 * HOUR) labelled.add(outcome.txn_id);
    log.append(outcome.txn_id, ts, 0, Buffer.from(JSON.stringify({ ...outcome, ts })));
  }
  log.close();
});
after(() => rmSync(dir, { recursive: true, force: true }));

function rtml(command: 'run' | 'replay', name: string, extra: string[] = []): { labelled: string; late: string; stderr: string } {
  const files = { labelled: join(dir, `${name}-labelled.jsonl`), late: join(dir, `${name}-late.jsonl`) };
  const r = spawnSync(
    process.execPath,
    [RTML, command, TOPOLOGY, '--source', `predictions=log:${predictions}`, '--source', `outcomes=log:${outcomes}`, '--sink', `labelled=file:${files.labelled}`, '--sink', `late=file:${files.late}`, '--no-progress', ...extra],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return { labelled: readFileSync(files.labelled, 'utf8'), late: readFileSync(files.late, 'utf8'), stderr: r.stderr };
}

describe('joins from the command line', () => {
  it('labelled-predictions: every prediction once, labelled when its outcome came within a day and on time; late outcomes go to late with their side', () => {
    const { labelled: out, late } = rtml('run', 'run');
    const rows = out.trim().split('\n').map((l) => JSON.parse(l) as { txn_id: string; is_fraud: boolean | null });
    assert.equal(rows.length, PREDICTIONS);
    assert.equal(new Set(rows.map((r) => r.txn_id)).size, PREDICTIONS);
    assert.deepEqual(new Set(rows.filter((r) => r.is_fraud !== null).map((r) => r.txn_id)), labelled);
    assert.ok(labelled.size > 500 && labelled.size < PREDICTIONS - 500, `${labelled.size} labelled`);
    const lateRows = late.trim().split('\n').map((l) => JSON.parse(l) as { side: string; event: { txn_id: string } });
    assert.ok(lateRows.length > 10);
    assert.ok(lateRows.every((r) => r.side === 'right' && r.event.txn_id.startsWith('t')));
  });

  it('a replay gives the live run’s output byte for byte, whatever the batch size', () => {
    const run = rtml('run', 'reference');
    for (const batch of ['7', '1000']) {
      const replay = rtml('replay', `replay-${batch}`, ['--batch-size', batch]);
      assert.equal(replay.labelled, run.labelled);
      assert.equal(replay.late, run.late);
    }
  });

  it('a replay of a time range: unmatched rows whose day could reach past the range are cut (dropped with --complete-windows); the pairs are the full run’s', () => {
    const full = new Set(rtml('run', 'full').labelled.trim().split('\n'));
    const [from, to] = [START + 10 * HOUR, START + 40 * HOUR];
    const range = ['--from', `t:${from}`, '--to', `t:${to}`];
    const marked = rtml('replay', 'range', range);
    const complete = rtml('replay', 'range-complete', [...range, '--complete-windows']);
    const cut = Number(/, ([\d,]+) result\(s\) cut by the range edges \(emitted/.exec(marked.stderr)?.[1]?.replaceAll(',', ''));
    assert.ok(cut > 0, marked.stderr);
    assert.match(complete.stderr, new RegExp(`, ${cut.toLocaleString('en-US')} result\\(s\\) cut by the range edges not emitted`));
    const rows = (text: string) => text.trim().split('\n').map((line) => ({ line, row: JSON.parse(line) as { ts: number; is_fraud: boolean | null } }));
    const kept = rows(complete.labelled);
    assert.equal(kept.length, rows(marked.labelled).length - cut);
    for (const { line, row } of kept) {
      if (row.is_fraud !== null) assert.ok(full.has(line), `a pair the full run does not have: ${line}`);
      // Unmatched and kept: its whole day (and the hour of lateness) lies in the range, so it is the full run's too.
      else {
        assert.ok(row.ts + 25 * HOUR <= to, `an unmatched row the range cuts was emitted: ${line}`);
        assert.ok(full.has(line), line);
      }
    }
    assert.ok(kept.some((r) => r.row.is_fraud === null) && kept.some((r) => r.row.is_fraud !== null));
  });
});
