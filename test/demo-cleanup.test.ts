import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * demo/background.sh, which demo/run.sh starts its background processes with (`--follow` readers,
 * the live run, the server): whichever way the script ends — done, failed, Ctrl-C, SIGTERM — no
 * process it started survives, pipelines and their children included.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Starts a job of each kind the demo has, prints their process groups, then ends as `ending` says. */
const SCRIPT = (ending: string) => `
set -euo pipefail
source demo/background.sh
background sleep 300
set -m
sleep 300 | cat &
set +m
started
background node -e 'require("child_process").spawn("sleep", ["300"], { stdio: "ignore" }); setInterval(() => {}, 1000)'
echo "groups \${BG_GROUPS[*]}"
${ending}
`;

function alive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

async function runScript(ending: string, signal?: NodeJS.Signals): Promise<{ code: number | null; groups: number[] }> {
  const child = spawn('bash', ['-c', SCRIPT(ending)], { cwd: join(ROOT), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const groups = await new Promise<number[]>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /groups ([\d ]+)\n/.exec(out);
      if (m) resolve(m[1]!.trim().split(' ').map(Number));
    });
  });
  assert.equal(groups.length, 3);
  // Every job is running (the node job with its own child) before the script ends.
  await new Promise((r) => setTimeout(r, 300));
  for (const g of groups) assert.ok(alive(g), `group ${g} runs`);
  if (signal) child.kill(signal);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, groups };
}

describe('demo/background.sh', () => {
  for (const [name, ending, signal, expected] of [
    ['the script completes', 'sleep 1; exit 0', undefined, 0],
    ['a step fails', 'sleep 1; false', undefined, 1],
    ['Ctrl-C (SIGINT)', 'wait', 'SIGINT', 130],
    ['SIGTERM', 'wait', 'SIGTERM', 143],
  ] as const) {
    it(`leaves no process running when ${name}`, async () => {
      const { code, groups } = await runScript(ending, signal);
      assert.equal(code, expected);
      for (const g of groups) assert.ok(!alive(g), `group ${g} is gone`);
    });
  }
});
