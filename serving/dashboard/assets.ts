import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { RtmlError } from '../../engine/errors.ts';
import { PACKAGE_ROOT } from '../../engine/packageInfo.ts';
import { truncate } from '../http.ts';

/** A file the dashboard serves. */
export interface DashboardFile {
  readonly body: string;
  readonly contentType: string;
}

const JS = 'text/javascript; charset=utf-8';
const require = createRequire(import.meta.url);
/** The page and its script are plain files in the sources' serving/dashboard/, also when this module runs compiled under dist/. */
const pageFile = (name: string) => join(PACKAGE_ROOT, 'serving', 'dashboard', name);

/**
 * The page's files by the name under `/dashboard/assets/`: its own script, and uPlot's build as
 * the installed package has it (resolved as Node resolves `uplot`: no copy in the repository, no
 * CDN). Resolved when the module loads, so a missing package fails the server's start, not a page.
 */
const FILES = new Map<string, { readonly path: string; readonly contentType: string }>([
  ['dashboard.js', { path: pageFile('dashboard.js'), contentType: JS }],
  ['uPlot.iife.min.js', { path: require.resolve('uplot/dist/uPlot.iife.min.js'), contentType: JS }],
  ['uPlot.min.css', { path: require.resolve('uplot/dist/uPlot.min.css'), contentType: 'text/css; charset=utf-8' }],
]);
const PAGE = { path: pageFile('index.html'), contentType: 'text/html; charset=utf-8' };

/** Files read so far: each is read once, on first request. */
const read = new Map<string, DashboardFile>();

function load(name: string, file: { readonly path: string; readonly contentType: string }): DashboardFile {
  let loaded = read.get(name);
  if (loaded === undefined) read.set(name, (loaded = { body: readFileSync(file.path, 'utf8'), contentType: file.contentType }));
  return loaded;
}

/** `GET /dashboard`: the page. */
export function dashboardPage(): DashboardFile {
  return load('', PAGE);
}

/** `GET /dashboard/assets/{file}`; 404 (RTML_E_HTTP_NOT_FOUND) naming the files there are. */
export function dashboardAsset(name: string): DashboardFile {
  const file = FILES.get(name);
  if (file === undefined) throw new RtmlError('RTML_E_HTTP_NOT_FOUND', `no dashboard file '${truncate(name)}' (files: ${[...FILES.keys()].join(', ')})`);
  return load(name, file);
}
