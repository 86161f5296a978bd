import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
// @ts-expect-error a plain ES module of bin/, without types
import { builtAndCurrent } from '../bin/build-state.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RTML = join(ROOT, 'bin', 'rtml');

/** Starts the `rtml` command (bin/rtml) and resolves once `ready(stderr)` holds (at most a minute). */
async function started(t: TestContext, args: string[], ready: (stderr: string) => boolean): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(RTML, args, { cwd: ROOT });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  t.after(() => child.kill('SIGKILL'));
  for (let i = 0; i < 1200 && !ready(stderr) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(ready(stderr), `not ready: ${stderr}`);
  return { child, stderr: () => stderr };
}

// A topology outside the repository, importing 'rtml' (resolved to the engine the CLI runs).
const TOPOLOGY = `
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('outside', ({ source, sink }) =>
  source('events', { time: 'ts' }).pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')),
);
`;

const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
/** The processes whose parent is `pid` (an esbuild service would be one). */
const children = (pid: number) =>
  readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    });

describe('the rtml command, compiled', () => {
  it('dist/ is a build of the current sources (npm test builds it first: npm run build)', () => {
    assert.equal(builtAndCurrent(), true);
  });

  it('serve runs the compiled CLI: one process, no TypeScript loader, an 8 MB young generation', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-compiled-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { child, stderr } = await started(t, ['--log-level', 'info', 'serve', '--port', '0', '--registry', `pglite:${join(dir, 'registry')}`, '--artifacts', join(dir, 'models'), '--online', 'memory:'], (e) => e.includes('serving on'));
    // The script exec'd node: the same process.
    const argv = commandLine(child.pid!);
    assert.match(argv.join(' '), /^\S*node --max-semi-space-size=8 \S*bin\/rtml\.mjs --log-level info serve /);
    assert.deepEqual(children(child.pid!), [], 'no esbuild (tsx) service process');
    child.kill('SIGTERM');
    assert.equal((await once(child, 'exit'))[0], 0, stderr());
  });

  it('run gets the 64 MB semi-spaces and loads a TypeScript topology (kept outside the package) into the compiled engine', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-compiled-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'topo.ts'), TOPOLOGY);
    writeFileSync(join(dir, 'in.jsonl'), `${[1000, 2000, 12_000].map((ts) => JSON.stringify({ card_id: 'x', amount: 5, ts })).join('\n')}\n`);
    const out = join(dir, 'out.jsonl');
    const windowDone = () => existsSync(out) && readFileSync(out, 'utf8').includes('"n":2');
    const { child, stderr } = await started(t, ['run', join(dir, 'topo.ts'), '--source', `events=file:${join(dir, 'in.jsonl')}`, '--sink', `out=file:${out}`, '--follow'], windowDone);
    assert.ok(commandLine(child.pid!).includes('--max-semi-space-size=64'), commandLine(child.pid!).join(' '));
    child.kill('SIGTERM');
    assert.equal((await once(child, 'exit'))[0], 0, stderr());
    // The window's result: the topology's operators are the compiled engine's own (one copy of rtml).
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8').trim().split('\n')[0]!), { key: 'x', window_start: 0, window_end: 10_000, n: 2, total: 10 });
  });
});
