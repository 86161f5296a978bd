// Lets Node load TypeScript topology files without a build step: tsx compiles them, and
// loader-hooks.mjs (registered last, so consulted first) resolves 'rtml' for files anywhere on disk.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./loader-hooks.mjs', import.meta.url);
