import { RtmlError } from '../errors.ts';
import type { StateCapability } from '../host.ts';
import type { WindowEdges } from '../rangeEdges.ts';
import type { Stateful } from '../state.ts';
import type { States } from './checkpointer.ts';

/**
 * The operators' state and watermark listeners: ids derive from the topology and each operator's
 * kind and position, so a checkpoint's states are found again by a resumed run of the same topology.
 */
export class OperatorStates implements StateCapability {
  readonly states = new Map<string, { state: Stateful; signature: string }>() satisfies States;
  private readonly counts = new Map<string, number>();
  private readonly listeners: ((w: number) => void)[] = [];

  constructor(
    private readonly topology: string,
    readonly edges: WindowEdges | undefined,
  ) {}

  operatorId(kind: string): string {
    const n = this.counts.get(kind) ?? 0;
    this.counts.set(kind, n + 1);
    return `${this.topology}/${kind}-${n}`;
  }

  register(id: string, state: Stateful, signature: string): void {
    if (this.states.has(id)) throw new RtmlError('RTML_E_TOPOLOGY', `two stateful operators have the id ${id}`);
    this.states.set(id, { state, signature });
  }

  onWatermark(listener: (watermark: number) => void): void {
    this.listeners.push(listener);
  }

  /** Tells every operator the new watermark, upstream operators first. */
  advance(watermark: number): void {
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!(watermark);
  }
}
