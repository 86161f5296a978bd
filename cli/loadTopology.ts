import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorMessage, RtmlError } from '../engine/errors.ts';
import { PACKAGE_ROOT } from '../engine/packageInfo.ts';
import { isTopology, type Topology } from '../engine/topology.ts';

/**
 * The compiled CLI (dist/) starts without a TypeScript loader: tsx and the 'rtml' resolver are
 * registered before the first topology is imported, resolving 'rtml' to this compiled engine.
 * From the sources, bin/rtml.mjs registered both at start.
 */
let typeScriptLoaded = import.meta.url.endsWith('.ts');
async function loadTypeScript(): Promise<void> {
  if (typeScriptLoaded) return;
  typeScriptLoaded = true;
  const { registerTypeScript } = (await import(pathToFileURL(join(PACKAGE_ROOT, 'bin', 'register.mjs')).href)) as { registerTypeScript(entry: string): void };
  registerTypeScript(new URL('../engine/index.js', import.meta.url).href);
}

/**
 * Imports a topology file (TypeScript, compiled on the fly by tsx) and returns its default export.
 * A syntax error, a missing export or a bad argument is reported with the file and the reason.
 */
export async function loadTopology(file: string): Promise<{ topology: Topology; path: string }> {
  const path = resolve(file);
  if (!existsSync(path)) throw new RtmlError('RTML_E_TOPOLOGY_LOAD', `topology file ${path} does not exist`);
  let module: { default?: unknown };
  try {
    await loadTypeScript();
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (err) {
    if (err instanceof RtmlError) throw new RtmlError(err.code, `${path}: ${err.message}`, { cause: err });
    // esbuild's message starts with "Transform failed with N error(s):" then "file:line:col: ERROR: …".
    const message = errorMessage(err).replace(/^Transform failed with \d+ errors?:\n/, '').split('\n').slice(0, 6).join('\n');
    throw new RtmlError('RTML_E_TOPOLOGY_LOAD', `cannot load topology ${path}: ${message}`, { cause: err });
  }
  if (!isTopology(module.default)) {
    throw new RtmlError('RTML_E_TOPOLOGY_LOAD', `${path} must export a topology as default: export default defineTopology('name', ({ source, sink }) => …)`);
  }
  return { topology: module.default, path };
}
