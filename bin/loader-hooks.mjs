// Module resolution for topology files kept anywhere on disk (users' own repos): `import … from
// 'rtml'` resolves to the engine the CLI itself runs (its TypeScript sources, or the compiled
// dist/engine — one copy, so a topology's operators are the engine's own classes), other bare
// imports (rxjs, avsc) fall back to this package's dependencies, and .ts files outside
// node_modules load as ES modules even with no package.json saying "type": "module" beside them.
// Running compiled, a topology that imports the package's sources by path (../engine/index.ts)
// gets their compiled modules too, for the same reason.
// Runs in Node's loader thread (module.register, with `data: { entry }`).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const RTML_ROOT = new URL('../package.json', import.meta.url).href;
const SOURCES = fileURLToPath(new URL('..', import.meta.url));
const COMPILED = `${SOURCES}dist/`;
let entry = { url: new URL('../engine/index.ts', import.meta.url).href, format: 'module-typescript' };

export function initialize(data) {
  if (data?.entry) entry = { url: data.entry, format: data.entry.endsWith('.ts') ? 'module-typescript' : 'module' };
}

/** The compiled module of one of the package's source files, when the CLI runs compiled and it exists. */
function compiledOf(url) {
  if (entry.format !== 'module' || !url.startsWith('file:')) return undefined;
  const path = fileURLToPath(url);
  if (!path.startsWith(SOURCES) || path.startsWith(COMPILED) || path.includes('/node_modules/') || !path.endsWith('.ts')) return undefined;
  const compiled = `${COMPILED}${path.slice(SOURCES.length, -3)}.js`;
  return existsSync(compiled) ? pathToFileURL(compiled).href : undefined;
}

function isBare(specifier) {
  return !/^(?:[./]|file:|node:|data:)/.test(specifier) && !specifier.startsWith('#');
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'rtml') return { url: entry.url, format: entry.format, shortCircuit: true };
  let resolved;
  try {
    resolved = await nextResolve(specifier, context);
  } catch (err) {
    if (!isBare(specifier) || err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    resolved = await nextResolve(specifier, { ...context, parentURL: RTML_ROOT });
  }
  const compiled = compiledOf(resolved.url);
  if (compiled !== undefined) return { url: compiled, format: 'module', shortCircuit: true };
  if (resolved.url.startsWith('file:') && /\.ts$/.test(new URL(resolved.url).pathname) && !resolved.url.includes('/node_modules/')) {
    return { ...resolved, format: 'module-typescript' };
  }
  return resolved;
}
