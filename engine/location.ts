import { fileURLToPath } from 'node:url';
import { dirname, join, sep } from 'node:path';
import { PACKAGE_ROOT } from './packageInfo.ts';

/** The engine's own frames: this folder, and the sources compiled ones map back to (dist/*.js.map). */
const ENGINE_DIRS = [dirname(fileURLToPath(import.meta.url)), join(PACKAGE_ROOT, 'engine')].map((dir) => dir + sep);

/**
 * Where the user's code called into the engine ("file:line:col"), found from the stack: the first
 * frame outside engine/ and node_modules. Operators capture it when they are built, so a bad
 * argument or a misplaced operator is reported at the topology line that wrote it.
 */
export function callerLocation(): string {
  const stack = new Error().stack?.split('\n').slice(1) ?? [];
  for (const line of stack) {
    const m = /\(?((?:file:\/\/)?\/[^()]+?):(\d+):(\d+)\)?\s*$/.exec(line);
    if (!m) continue;
    const file = m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
    if (ENGINE_DIRS.some((dir) => file.startsWith(dir)) || file.includes('/node_modules/')) continue;
    return `${file}:${m[2]}:${m[3]}`;
  }
  return 'unknown location';
}
