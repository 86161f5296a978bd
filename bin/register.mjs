// Lets Node load TypeScript: tsx compiles it, and loader-hooks.mjs (registered last, so consulted
// first) resolves 'rtml' for topology files anywhere on disk to `entry` — the engine's sources by
// default, the compiled engine when the CLI runs from dist/ (cli/loadTopology.ts registers them
// then, on the first topology, with that entry).
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

export function registerTypeScript(entry = new URL('../engine/index.ts', import.meta.url).href) {
  registerTsx();
  register('./loader-hooks.mjs', import.meta.url, { data: { entry } });
}
