// Whether dist/ holds a build of the current sources: dist/BUILT is written last by `npm run
// build`; a source file changed after it (a checkout being worked on) makes the build stale.
// Stat-ing the ~400 sources takes a few milliseconds.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The folders the build compiles: tsconfig.build.json's `include`. */
function sourceDirs() {
  try {
    return JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, 'utf8')).include;
  } catch {
    return []; // an installed package may ship dist/ only
  }
}

export function builtAndCurrent() {
  let built;
  try {
    built = statSync(`${ROOT}dist/BUILT`).mtimeMs;
  } catch {
    return false;
  }
  for (const dir of sourceDirs()) {
    let names;
    try {
      names = readdirSync(`${ROOT}${dir}`, { recursive: true });
    } catch {
      continue; // an installed package may ship dist/ only
    }
    for (const name of names) {
      if (name.endsWith('.ts') && statSync(`${ROOT}${dir}/${name}`).mtimeMs > built) return false;
    }
  }
  return true;
}
