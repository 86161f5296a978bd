#!/usr/bin/env -S node --max-semi-space-size=64
// The larger young generation (64 MB semi-spaces, V8's default is 16) keeps short-lived window
// state from being promoted and collected as old objects: 15-30 % more events/s in bench/.
//
// The CLI runs compiled (dist/, built by `npm run build`, which install and `prepare` run): no
// TypeScript loader, nor its esbuild process, unless a command loads a topology file. From a
// checkout whose sources are newer than the build, it runs the sources through tsx instead.
import { builtAndCurrent } from './build-state.mjs';

if (builtAndCurrent()) {
  await import('../dist/cli/main.js');
} else {
  const { registerTypeScript } = await import('./register.mjs');
  registerTypeScript();
  await import('../cli/main.ts');
}
