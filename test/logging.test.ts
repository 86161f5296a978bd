import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './support/cli.ts';

/** `rtml --log-format json|text --log-level …`: every line rtml reports, as JSON objects with levels for log collectors, or as text. */

const RTML = join(ROOT, 'bin', 'rtml.mjs');
const TOPOLOGY = `
import { aggregate, count, defineTopology, keyBy, tumbling, window } from 'rtml';
export default defineTopology('logged', ({ source, sink }) =>
  source('events', { time: 'ts' }).pipe(keyBy('k'), window(tumbling(10), { late: 'late' }), aggregate({ n: count() }), sink('out')));
`;

function run(dir: string, before: string[], env: Record<string, string> = {}): string[] {
  const r = spawnSync(process.execPath, [RTML, ...before, 'run', join(dir, 'topo.ts'), '--source', `events=file:${join(dir, 'events.jsonl')}`, '--sink', `out=file:${join(dir, 'out.jsonl')}`, '--no-progress'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr.trim().split('\n');
}

describe('logging', () => {
  it('json: one object per line with level, ISO time, pid and message; warnings at warn; --log-level drops what is below it', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-logging-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'topo.ts'), TOPOLOGY);
    // The late event is dropped (its late sink is not bound): a warning.
    writeFileSync(join(dir, 'events.jsonl'), ['{"k":"a","ts":1}', '{"k":"a","ts":25}', '{"k":"a","ts":2}'].join('\n') + '\n');
    const lines = run(dir, ['--log-format', 'json']).map((l) => JSON.parse(l) as { level: string; time: string; pid: number; msg: string });
    for (const line of lines) {
      assert.deepEqual(Object.keys(line).sort(), ['level', 'msg', 'pid', 'time']);
      assert.ok(!Number.isNaN(Date.parse(line.time)) && line.time.endsWith('Z'));
      assert.ok(!line.msg.startsWith('rtml: '));
    }
    assert.ok(lines.some((l) => l.level === 'info' && /^logged: events in 3, processed 2, late 1/.test(l.msg)), JSON.stringify(lines));
    assert.ok(lines.some((l) => l.level === 'warn' && /1 late event\(s\) dropped/.test(l.msg)), JSON.stringify(lines));
    // The environment sets the same, as a container would.
    const warnOnly = run(dir, [], { RTML_LOG_FORMAT: 'json', RTML_LOG_LEVEL: 'warn' }).map((l) => JSON.parse(l) as { level: string });
    assert.ok(warnOnly.length > 0 && warnOnly.every((l) => l.level === 'warn'));
    // Text, the default: the lines as they always were.
    const text = run(dir, []);
    assert.ok(text.every((l) => l.startsWith('rtml: ')) && text.some((l) => /^rtml: logged: events in 3/.test(l)));
  });
});
