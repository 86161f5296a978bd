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
  private readonly delays: number[] = [];
  /** See StateCapability.watermarkDelay: set while subscribing a chain of operators. */
  watermarkDelay = 0;

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
    this.delays.push(this.watermarkDelay);
  }

  /** A source is subscribed: the chain of operators it starts sees the watermark as it is. */
  chainStarts(): void {
    this.watermarkDelay = 0;
  }

  /** Tells every operator the new watermark, less what a join upstream of it holds back, upstream operators first. */
  advance(watermark: number): void {
    const { listeners, delays } = this;
    for (let i = 0; i < listeners.length; i++) listeners[i]!(watermark - delays[i]!);
  }
}
