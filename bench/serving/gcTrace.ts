/**
 * V8's `--trace-gc-nvp` lines (on a Node server's stdout) summarised for a stretch of the output:
 * how many scavenges (young generation) and mark-compacts (old) ran, their pauses, and what each
 * scavenge kept — the bytes copied within the young generation plus those promoted to the old
 * one. A scavenge's cost grows with what survives it, not with what died.
 *   [pid:0x…]  1234 ms: pause=1.2 mutator=… gc=s … promoted=591104 new_space_survived=277208 …
 */
export interface GcSummary {
  scavenges: number;
  scavengeMeanMs: number;
  scavengeMaxMs: number;
  /** Mean MB surviving a scavenge (copied + promoted). */
  survivedMeanMb: number;
  markCompacts: number;
  markCompactMaxMs: number;
}

const field = (line: string, name: string) => Number(new RegExp(`\\b${name}=([\\d.]+)`).exec(line)?.[1] ?? 0);

export function summariseGc(trace: string): GcSummary {
  const scavenges: number[] = [];
  const compacts: number[] = [];
  let survived = 0;
  for (const line of trace.split('\n')) {
    const kind = / gc=(\w+) /.exec(line)?.[1];
    if (kind === 's') {
      scavenges.push(field(line, 'pause'));
      survived += field(line, 'new_space_survived') + field(line, 'promoted');
    } else if (kind === 'mc' || kind === 'mmc') compacts.push(field(line, 'pause'));
  }
  const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
  return {
    scavenges: scavenges.length,
    scavengeMeanMs: mean(scavenges),
    scavengeMaxMs: Math.max(0, ...scavenges),
    survivedMeanMb: scavenges.length === 0 ? 0 : survived / scavenges.length / 1e6,
    markCompacts: compacts.length,
    markCompactMaxMs: Math.max(0, ...compacts),
  };
}

/** `12 scavenges (mean 1.1 ms, max 3.0 ms, 0.4 MB surviving each), 0 mark-compacts`. */
export function gcCell(g: GcSummary): string {
  const compacts = g.markCompacts === 0 ? '0 mark-compacts' : `${g.markCompacts} mark-compact(s) (max ${g.markCompactMaxMs.toFixed(1)} ms)`;
  return `${g.scavenges} scavenges (mean ${g.scavengeMeanMs.toFixed(1)} ms, max ${g.scavengeMaxMs.toFixed(1)} ms, ${g.survivedMeanMb.toFixed(1)} MB surviving each), ${compacts}`;
}
