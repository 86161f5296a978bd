import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

/** Readers for the deployment files the tests check (Dockerfile, .dockerignore, imports). */

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** A Dockerfile's instructions, continuation lines joined, comments dropped. */
export function dockerfileInstructions(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '');
  return logical.map((line) => {
    const [, keyword, args] = /^\s*(\S+)\s*(.*)$/.exec(line)!;
    return { keyword: keyword!.toUpperCase(), args: args!.trim() };
  });
}

/** The packages each `apt-get install` of these instructions names. */
export function aptPackages(instructions: readonly Instruction[]): string[] {
  return instructions
    .filter((i) => i.keyword === 'RUN')
    .flatMap((i) => [...i.args.matchAll(/apt-get install((?:\s+[^\s&|;]+)+)/g)].map((m) => m[1]!.trim().split(/\s+/)))
    .flat()
    .filter((word) => !word.startsWith('-'));
}

/** install.sh's PACKAGES array. */
export function installShPackages(): string[] {
  const match = /^PACKAGES=\(([^)]*)\)/m.exec(readFileSync(join(ROOT, 'install.sh'), 'utf8'));
  if (!match) throw new Error('install.sh has no PACKAGES=(…) line');
  return match[1]!.trim().split(/\s+/);
}

/**
 * Top-level names an allow-list .dockerignore (`*`, then `!name` lines) lets into the build
 * context; throws on any other form, which this reader does not model.
 */
export function dockerignoreAllowed(text: string): Set<string> {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines[0] !== '*') throw new Error('.dockerignore must start with "*" (an allow-list)');
  const allowed = new Set<string>();
  for (const line of lines.slice(1)) {
    if (!/^![^/*?[\]]+$/.test(line)) throw new Error(`.dockerignore line ${line}: expected !<top-level name>`);
    allowed.add(line.slice(1));
  }
  return allowed;
}

const SPECIFIERS = [
  /^\s*import\s+(?!type\b)[^'"]*?from\s+['"]([^'"]+)['"]/gm,
  /^\s*export\s+(?!type\b)[^'"]*?from\s+['"]([^'"]+)['"]/gm,
  /^\s*import\s+['"]([^'"]+)['"]/gm,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\bcreateRequire\([^)]*\)\(\s*['"]([^'"]+)['"]\s*\)/g,
  /new URL\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g,
];
const RELATIVE_STRING = /['"](\.{1,2}\/[^'"]+\.(?:avsc|json|mjs|ts))['"]/g;

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/**
 * Every file reachable from `entries` through static and dynamic imports and require() calls with literal specifiers,
 * `new URL('./…', import.meta.url)` and relative file names in strings (a topology's schema path),
 * as paths relative to ROOT; and the npm packages they import (Node's built-ins left out; type-only
 * imports are erased at run time and not followed). Missing relative targets are listed too.
 */
export function importClosure(entries: readonly string[]): { files: Set<string>; missing: string[]; packages: Set<string> } {
  const files = new Set<string>();
  const missing: string[] = [];
  const packages = new Set<string>();
  const queue = entries.map((e) => resolve(ROOT, e));
  while (queue.length > 0) {
    let file = queue.pop()!;
    // dist/ is compiled in the image from the sources copied into it: a compiled file's source
    // (x.js → x.ts beside it) is what must be there.
    if (relative(ROOT, file).startsWith('dist/')) continue;
    if (file.endsWith('.js') && !existsSync(file) && existsSync(file.replace(/\.js$/, '.ts'))) file = file.replace(/\.js$/, '.ts');
    const rel = relative(ROOT, file);
    if (files.has(rel)) continue;
    if (!existsSync(file)) {
      missing.push(rel);
      continue;
    }
    files.add(rel);
    if (!/\.(?:ts|mjs|js)$/.test(file)) continue;
    const text = readFileSync(file, 'utf8');
    const specifiers = SPECIFIERS.flatMap((pattern) => [...text.matchAll(pattern)].map((m) => m[1]!));
    const strings = [...text.matchAll(RELATIVE_STRING)].map((m) => m[1]!);
    for (const specifier of [...specifiers, ...strings]) {
      if (specifier.startsWith('.')) queue.push(resolve(dirname(file), specifier));
      else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier) && specifier !== 'rtml') packages.add(packageName(specifier));
    }
  }
  return { files, missing, packages };
}
