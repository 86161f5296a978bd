// Module resolution for topology files kept anywhere on disk (users' own repos): `import … from
// 'rtml'` resolves to this package, other bare imports (rxjs, avsc) fall back to this package's
// dependencies, and .ts files outside node_modules load as ES modules even with no package.json
// saying "type": "module" beside them. Runs in Node's loader thread (module.register).
const RTML_ENTRY = new URL('../engine/index.ts', import.meta.url).href;
const RTML_ROOT = new URL('../package.json', import.meta.url).href;

function isBare(specifier) {
  return !/^(?:[./]|file:|node:|data:)/.test(specifier) && !specifier.startsWith('#');
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'rtml') return { url: RTML_ENTRY, format: 'module-typescript', shortCircuit: true };
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
