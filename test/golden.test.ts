import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * Golden files: the demo's card-activity topology over a fixed input (out of order, late events,
 * bad lines) must give exactly the committed outputs. A change in semantics or output format shows
 * up here as a diff; regenerate with RTML_UPDATE_GOLDEN=1 only when the change is intended.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GOLDEN = join(ROOT, 'test/golden/card-activity');
const SINKS = ['out', 'late', 'dlq'];

describe('golden: topologies/card-activity.ts', () => {
  it('gives the committed outputs for the committed input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-golden-'));
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'bin/rtml.mjs'), 'run', join(ROOT, 'topologies/card-activity.ts'), '--source', `events=file:${join(GOLDEN, 'events.jsonl')}`, ...SINKS.flatMap((s) => ['--sink', `${s}=file:${join(dir, `${s}.jsonl`)}`]), '--offline', `pglite:${join(dir, 'pglite')}`],
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    for (const sink of SINKS) {
      const got = readFileSync(join(dir, `${sink}.jsonl`), 'utf8');
      if (process.env.RTML_UPDATE_GOLDEN) writeFileSync(join(GOLDEN, `${sink}.jsonl`), got);
      assert.equal(got, readFileSync(join(GOLDEN, `${sink}.jsonl`), 'utf8'), `${sink} differs from test/golden/card-activity/${sink}.jsonl`);
    }
  });
});
