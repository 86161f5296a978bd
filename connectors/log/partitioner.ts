import { fnv1a32 } from '../../storage/index.ts';

/**
 * Which partition a keyed record goes to: FNV-1a 32-bit over the key's UTF-8 bytes (storage/hash.ts),
 * modulo the partition count. It is part of the on-disk contract (records of one key must keep
 * landing in the same partition across processes and versions), so it must never change.
 * Records without a key are spread round-robin by the writer.
 */

/** The partition (0..partitions-1) of a record with this key. */
export function partitionFor(key: string, partitions: number): number {
  return fnv1a32(key) % partitions;
}
