/**
 * Something with state a checkpoint saves and a resumed run restores: window stores, feature
 * tables, the watermark tracker. Operators declare theirs up front (StateCapability.register), so
 * checkpoints and restore are generic, as in Arroyo's state tables.
 */
export interface Stateful {
  snapshot(): unknown;
  restore(state: unknown): void;
}
