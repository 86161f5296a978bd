import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './support/cli.ts';

/**
 * `rtml --config file.yaml` and RTML_<OPTION> variables: the command line wins over the environment,
 * which wins over the file, which wins over the defaults; a bad file is one clear error naming the key.
 */

const RTML = join(ROOT, 'bin', 'rtml.mjs');
const OUTCOME = '{"txn_id":"t1","is_fraud":0,"ts":1}\n';

function rtml(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [RTML, ...args], { cwd: ROOT, encoding: 'utf8', input: OUTCOME, env: { ...process.env, ...env } });
}

/** How many partitions `rtml produce` created the topic with. */
function partitions(topic: string): number {
  const info = rtml(['log', 'info', `log:${topic}`]);
  assert.equal(info.status, 0, info.stderr);
  return Number(/(\d+) partition/.exec(info.stdout)![1]);
}

describe('config file and environment', () => {
  it('fill in what the command line leaves unset: command line > RTML_<OPTION> > file (command section > top level) > default', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-config-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'rtml.yaml');
    writeFileSync(config, ['log-level: info', 'produce:', '  schema: schemas/outcome.avsc', '  key: txn_id', '  partitions: 3', ''].join('\n'));
    const produce = (topic: string, args: string[] = [], env: Record<string, string> = {}) => {
      const r = rtml(['--config', config, 'produce', `log:${join(dir, topic)}`, ...args], env);
      assert.equal(r.status, 0, r.stderr);
      return partitions(join(dir, topic));
    };
    assert.equal(produce('from-file'), 3);
    assert.equal(produce('from-env', [], { RTML_PARTITIONS: '2' }), 2);
    assert.equal(produce('from-cli', ['--partitions', '5'], { RTML_PARTITIONS: '2' }), 5);
    // RTML_CONFIG names the file when --config does not.
    const viaEnv = rtml(['produce', `log:${join(dir, 'via-env')}`], { RTML_CONFIG: config });
    assert.equal(viaEnv.status, 0, viaEnv.stderr);
    assert.equal(partitions(join(dir, 'via-env')), 3);
  });

  it('a bad file is refused at start with the key named', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-config-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const refusal = (text: string): string => {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, text);
      const r = rtml(['--config', file, 'produce', `log:${join(dir, 'never')}`, '--schema', 'schemas/outcome.avsc']);
      assert.notEqual(r.status, 0);
      return r.stderr;
    };
    assert.match(refusal('produce:\n  partitons: 3\n'), /bad\.yaml: produce\.partitons: rtml produce has no option --partitons \(it has --schema, --key, --partitions, --time/);
    assert.match(refusal('colour: red\n'), /bad\.yaml: colour is neither an option of an rtml command nor a command's name/);
    assert.match(refusal('produce: 3\n'), /bad\.yaml: produce must be a mapping of rtml produce's options/);
    assert.match(refusal('produce:\n  partitions: -2\n'), /bad\.yaml: produce\.partitions: expected a whole number >= 1/);
    assert.match(refusal('produce:\n  key: [a\n'), /bad\.yaml: /);
    const env = rtml(['produce', `log:${join(dir, 'never')}`, '--schema', 'schemas/outcome.avsc'], { RTML_PARTITIONS: 'many' });
    assert.match(env.stderr, /RTML_PARTITIONS: expected a whole number >= 1/);
  });
});
