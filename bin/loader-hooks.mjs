// Module resolution for topology files kept anywhere on disk (users' own repos): `import … from
// 'rtml'` resolves to the engine the CLI itself runs (its TypeScript sources, or the compiled
// dist/engine — one copy, so a topology's operators are the engine's own classes), other bare
// imports (rxjs, avsc) fall back to this package's dependencies, and .ts files outside
// node_modules load as ES modules even with no package.json saying "type": "module" beside them.
// Runs in Node's loader thread (module.register, with `data: { entry }`).
const RTML_ROOT = new URL('../package.json', import.meta.url).href;
let entry = { url: new URL('../engine/index.ts', import.meta.url).href, format: 'module-typescript' };

export function initialize(data) {
  if (data?.entry) entry = { url: data.entry, format: data.entry.endsWith('.ts') ? 'module-typescript' : 'module' };
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
  if (resolved.url.startsWith('file:') && /\.ts$/.test(new URL(resolved.url).pathname) && !resolved.url.includes('/node_modules/')) {
    return { ...resolved, format: 'module-typescript' };
  }
  return resolved;
}
