import { mulberry32 } from '../../models/training/index.ts';

/** A seeded PRNG (mulberry32): the same seed gives the same events on every machine. */
export const prng = mulberry32;

/**
 * JSON lines of card events with out-of-order arrival (up to `jitter` ms), a share of very late
 * events and, optionally, bad lines.
 */
export function eventLines(n: number, options: { seed?: number; keys?: number; jitter?: number; bad?: boolean } = {}): string[] {
  const { seed = 1, keys = 50, jitter = 8000, bad = false } = options;
  const rand = mulberry32(seed);
  const lines: string[] = [];
  let now = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    now += Math.floor(rand() * 400);
    const roll = rand();
    if (bad && roll < 0.01) {
      lines.push(roll < 0.005 ? '{"card_id": "c1", "amount":' : JSON.stringify({ card_id: `c${i % keys}`, amount: 'n/a', ts: now }));
      continue;
    }
    const ts = roll < 0.03 ? now - 120_000 : now - Math.floor(rand() * jitter);
    lines.push(JSON.stringify({ card_id: `c${Math.floor(rand() * keys)}`, merchant_id: `m${Math.floor(rand() * 20)}`, amount: Math.round(rand() * 50000) / 100, ts }));
  }
  return lines;
}

/** The card of a JSON event line, as the transports' producers key it ('none' without one, 'bad' for a line that is not JSON). */
export function keyOf(line: string): string {
  try {
    return String((JSON.parse(line) as { card_id?: unknown }).card_id ?? 'none');
  } catch {
    return 'bad';
  }
}
