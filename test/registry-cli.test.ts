import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import {
  modelsAbCommand,
  modelsHistoryCommand,
  modelsListCommand,
  modelsPromoteCommand,
  modelsRegisterCommand,
  modelsRollbackCommand,
  modelsRoutingCommand,
  modelsShadowCommand,
} from '../cli/models.ts';
import { openRegistry } from '../models/registry/index.ts';
import { rtml } from './support/cli.ts';
import { POSTGRES_URI, tempDir } from './support/features.ts';
import { cleanModels, uniqueModel, writeModel } from './support/registry.ts';

/** The lines a command prints, through its `print` option (patching process.stdout would also swallow the test reporter's output). */
let printed = '';
const print = (line: string) => void (printed += `${line}\n`);
async function stdout(fn: () => Promise<unknown>): Promise<string> {
  printed = '';
  await fn();
  return printed;
}

const files = tempDir('registry-cli');
after(() => files.remove());

describe('rtml models commands', () => {
  const flags = { registry: POSTGRES_URI, artifacts: `${files.dir}/artifacts`, print };

  it('register, list, promote, ab, shadow, rollback, routing: one line each', async (t) => {
    const name = uniqueModel('cli');
    cleanModels(t, name);
    const m1 = writeModel(files.dir, 'm1.onnx', { seed: 1, metrics: { held_out_auc: 0.912345 } });
    const m2 = writeModel(files.dir, 'm2.onnx', { seed: 2 });
    const m3 = writeModel(files.dir, 'm3.onnx', { seed: 3 });

    assert.match(await stdout(() => modelsRegisterCommand(name, m1, { ...flags, stage: 'production', features: 'x0,x1,x2' })),
      new RegExp(`^registered ${name} v1 \\(sha256 [0-9a-f]{12}, 3 features: x0, x1, x2, held_out_auc 0.9123\\); production v1\\n$`));
    assert.match(await stdout(() => modelsRegisterCommand(name, m2, { ...flags, stage: 'staging' })), /^registered .* v2 .*; staging v2 \(added v2\)\n$/);
    assert.match(await stdout(() => modelsRegisterCommand(name, m2, flags)), new RegExp(`^${name} v2 already has these bytes \\(sha256 `));
    await stdout(() => modelsRegisterCommand(name, m3, flags));

    assert.equal(await stdout(() => modelsPromoteCommand(name, 'v2', { ...flags, stage: 'production' })), `${name}: production v1 → v2 (v2 leaves staging)\n`);
    assert.equal(await stdout(() => modelsPromoteCommand(name, '2', { ...flags, stage: 'production' })), `${name}: v2 is already the production version\n`);
    assert.equal(await stdout(() => modelsAbCommand(name, ['2:90', 'v3:10%'], flags)), `${name}: A/B v2:90% v3:10%\n`);
    assert.equal(await stdout(() => modelsShadowCommand(name, ['1'], flags)), `${name}: shadow v1\n`);
    assert.equal(
      await stdout(() => modelsRollbackCommand(name, flags)),
      `${name}: production v2 → v1 (rollback) (v1 leaves the shadows) (the A/B split v2:90% v3:10% still decides who is served)\n`,
    );
    assert.equal(await stdout(() => modelsAbCommand(name, ['none'], flags)), `${name}: no A/B split\n`);
    assert.equal(await stdout(() => modelsRoutingCommand(name, flags)), `${name}: production v1 (revision 7)\n`);

    const table = (await stdout(() => modelsListCommand(name, flags))).trimEnd().split('\n');
    assert.match(table[0]!, /^NAME +VERSION +ROLES +SHA256 +FEATURES +CREATED +METRICS$/);
    assert.equal(table.length, 4);
    assert.match(table[1]!, new RegExp(`^${name} +v1 +production +[0-9a-f]{12} +3 +\\d{4}-\\d\\d-\\d\\dT.* held_out_auc 0.9123$`));
    assert.match(table[3]!, / v3 +- /);
    const lines = (await stdout(() => modelsListCommand(name, { ...flags, json: true }))).trim().split('\n').map((l) => JSON.parse(l) as { version: number; roles: string[]; sha256: string });
    assert.deepEqual(lines.map((l) => [l.version, l.roles]), [[1, ['production']], [2, []], [3, []]]);

    // The audit history: every version registered and every change, in order, with who made it.
    const history = (await stdout(() => modelsHistoryCommand(name, flags))).trimEnd().split('\n');
    assert.match(history[0]!, /^AT +REVISION +ACTION +ACTOR +DETAIL$/);
    assert.deepEqual(history.slice(1).map((l) => l.split(/ {2,}/)[2]), ['register', 'promote', 'register', 'promote', 'register', 'promote', 'ab', 'shadow', 'rollback', 'ab']);
    process.env.RTML_ACTOR = 'ci-pipeline (alice)';
    t.after(() => delete process.env.RTML_ACTOR);
    await stdout(() => modelsShadowCommand(name, ['3'], flags));
    const last = JSON.parse((await stdout(() => modelsHistoryCommand(name, { ...flags, json: true }))).trim().split('\n').at(-1)!) as { action: string; actor: string; revision: number; detail: Record<string, unknown> };
    assert.deepEqual([last.action, last.actor, last.revision], ['shadow', 'ci-pipeline (alice)', 8]);
  });

  it('refusals carry RTML_E codes and name what to fix', async (t) => {
    const name = uniqueModel('cli');
    cleanModels(t, name);
    await assert.rejects(modelsRegisterCommand(name, writeModel(files.dir, 'bad.onnx', 'not a model'), flags), { code: 'RTML_E_MODEL' });
    const file = writeModel(files.dir, 'ok.onnx', { seed: 5 });
    await assert.rejects(modelsRegisterCommand(name, file, { ...flags, features: 'x0,x1' }), { code: 'RTML_E_MODEL', message: /but 2 are declared/ });
    await assert.rejects(modelsRegisterCommand(name, file, { ...flags, stage: 'prod' }), { code: 'RTML_E_USAGE', message: /--stage prod: expected production or staging/ });
    await stdout(() => modelsRegisterCommand(name, file, flags));
    await assert.rejects(modelsPromoteCommand(name, 'latest', { ...flags, stage: 'production' }), { code: 'RTML_E_USAGE', message: /expected a version number/ });
    await assert.rejects(modelsAbCommand(name, ['1=50'], flags), { code: 'RTML_E_USAGE', message: /expected <version>:<percent>/ });
    await assert.rejects(modelsRollbackCommand(name, flags), { code: 'RTML_E_REGISTRY', message: /no production version to roll back/ });
    await assert.rejects(modelsRegisterCommand(name, file, { ...flags, registry: 'mysql://x' }), { code: 'RTML_E_USAGE', message: /--registry: "mysql:\/\/x" is not a registry URI/ });
  });

  it('works on the embedded default (PGlite)', async () => {
    const dir = tempDir('registry-cli-pglite');
    try {
      const embedded = { registry: `pglite:${dir.dir}`, artifacts: `${dir.dir}/models`, print };
      await stdout(() => modelsRegisterCommand('fraud', writeModel(files.dir, 'e1.onnx', { seed: 7 }), { ...embedded, stage: 'production' }));
      assert.equal(await stdout(() => modelsRoutingCommand('fraud', embedded)), 'fraud: production v1 (revision 1)\n');
    } finally {
      dir.remove();
    }
  });

  it('refuses a second process on a PGlite registry in use (its changes would be lost), and takes over a stale lock', async () => {
    const dir = tempDir('registry-cli-pglite-lock');
    const uri = `pglite:${dir.dir}`;
    const artifacts = `${dir.dir}-models`;
    const registry = openRegistry(uri, artifacts);
    try {
      // This process holds the data dir open, as `rtml run --follow --registry pglite:…` does.
      await registry.register('fraud', writeModel(files.dir, 'l1.onnx', { seed: 7 }), { stage: 'production' });
      await registry.register('fraud', writeModel(files.dir, 'l2.onnx', { seed: 8 }));
      const refused = await rtml(['models', 'promote', 'fraud', '2', '--stage', 'production', '--registry', uri, '--artifacts', artifacts]);
      assert.notEqual(refused.code, 0, refused.stdout);
      const reason = `registry ${uri} is in use by pid ${process.pid} (`;
      assert.ok(refused.stderr.includes(reason), refused.stderr);
      assert.match(refused.stderr, /\); PGlite serves one process — use a postgres:\/\/ registry for live changes from another process/);
      assert.equal((await registry.routing('fraud')).production, 1);
    } finally {
      await registry.close();
    }
    assert.ok(!existsSync(`${dir.dir}.lock`), 'released on close');
    try {
      // A lock left by a process that is gone is stale: taken over.
      const gone = spawnSync(process.execPath, ['-e', '0']).pid;
      writeFileSync(`${dir.dir}.lock`, `${gone}\nrtml run crashed.ts\n`);
      const promoted = await rtml(['models', 'promote', 'fraud', '2', '--stage', 'production', '--registry', uri, '--artifacts', artifacts]);
      assert.equal(promoted.code, 0, promoted.stderr);
      assert.match(promoted.stdout, /fraud: production v1 → v2/);
      assert.ok(!existsSync(`${dir.dir}.lock`), 'released when the command exits');
    } finally {
      dir.remove();
      rmSync(artifacts, { recursive: true, force: true });
    }
  });
});
