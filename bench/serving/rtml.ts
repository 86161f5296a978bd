import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { NODE_FLAGS } from '../support.ts';
import { run } from './procs.ts';
import { MODEL_FEATURES } from './workload.ts';

/**
 * rtml's side of the serving benchmark: the ONNX model registered in production through the CLI
 * under a name of its own (the Postgres registry's tables are shared), the `rtml serve` command
 * line, and the registry rows removed afterwards.
 */

export interface RtmlModel {
  name: string;
  registry: string;
  artifacts: string;
}

export function rtmlModel(registry: string): RtmlModel {
  return { name: `bench_${process.pid}`, registry, artifacts: mkdtempSync(join(tmpdir(), 'rtml-bench-serve-artifacts-')) };
}

export async function registerModel(bin: string, model: RtmlModel, onnxFile: string): Promise<void> {
  const flags = ['--registry', model.registry, '--artifacts', model.artifacts];
  await run(process.execPath, [...NODE_FLAGS, bin, 'models', 'register', model.name, onnxFile, '--stage', 'production', '--features', MODEL_FEATURES.join(','), ...flags], 60_000);
}

/** The arguments after Node's own flags. */
export function serveCommand(bin: string, model: RtmlModel, port: number, redis: string): string[] {
  return [bin, 'serve', '--port', String(port), '--host', '127.0.0.1', '--online', redis, '--registry', model.registry, '--artifacts', model.artifacts];
}

export async function deleteModel(model: RtmlModel): Promise<void> {
  const client = new pg.Client({ connectionString: model.registry });
  await client.connect();
  try {
    for (const table of ['rtml_model_versions', 'rtml_model_routing', 'rtml_model_events']) await client.query(`DELETE FROM ${table} WHERE name = $1`, [model.name]);
  } finally {
    await client.end();
  }
}
