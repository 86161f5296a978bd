import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/**
 * The rtml package's folder and version, found through the package's own name (a self-reference)
 * rather than a path relative to this file: the same code runs from the TypeScript sources and
 * compiled under dist/.
 */
const MANIFEST = createRequire(import.meta.url).resolve('rtml/package.json');

export const PACKAGE_ROOT = dirname(MANIFEST);

export const RTML_VERSION = (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { version: string }).version;
