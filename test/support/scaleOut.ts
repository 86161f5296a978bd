import assert from 'node:assert/strict';

/** A scale-out worker as a test sees it: its stderr so far. */
export interface LoggingWorker {
  stderr(): string;
}

/** Waits until `ok()`, else fails after `timeoutMs` with what the workers logged. */
export async function until(what: string, ok: () => boolean, timeoutMs = 60_000, workers: readonly LoggingWorker[] = []): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n${workers.map((w, i) => `worker ${i}:\n${w.stderr()}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The partitions a worker owns now, from its log ("partitions assigned/revoked/lost: [...]"). */
export function owned(w: LoggingWorker): Set<number> {
  const mine = new Set<number>();
  for (const m of w.stderr().matchAll(/partitions (assigned|revoked|lost): \[([\d, ]*)\]/g)) {
    const ps = m[2]!.split(',').filter((x) => x.trim() !== '').map(Number);
    for (const p of ps) m[1] === 'assigned' ? mine.add(p) : mine.delete(p);
  }
  return mine;
}
