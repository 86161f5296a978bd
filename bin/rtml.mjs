#!/usr/bin/env node
// The CLI's entry. The `rtml` command is bin/rtml, which starts Node with the flags the command
// was measured best with, then this file.
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
