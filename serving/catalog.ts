import { errorMessage, RtmlError } from '../engine/errors.ts';
import type { RegistryModel, RegistryModelHandle, RegistryModelProvider } from '../models/registry/provider.ts';
import type { ModelVersion } from '../models/registry/store.ts';
import { truncate } from './http.ts';

export interface ModelStatus {
  readonly name: string;
  /** 'v3', or 'A/B v2:90% v3:10%'; null when the model serves nothing. */
  readonly serving: string | null;
  /** Why it does not serve. */
  readonly reason?: string;
}

/**
 * The models a server answers for: every registry name with something to serve (a production
 * version or an A/B split), each followed live by its handle (promotions, rollbacks and splits
 * swap between two request batches). Names registered or promoted later are found by a periodic
 * rescan, and at once when a request asks for a name not seen yet (at most once a second).
 * `only` restricts the names served (a name not registered yet is reported until it is).
 */
export class ModelCatalog {
  private readonly handles = new Map<string, RegistryModelHandle>();
  private readonly idle = new Map<string, string>();
  private registryError: string | undefined = 'not read yet';
  private lastScan = 0;
  private scanning: Promise<void> | undefined;
  private readonly interval: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly provider: RegistryModelProvider,
    private readonly log: (line: string) => void,
    /** Serve only these names (Triton's explicit model control); default: every name in the registry. */
    private readonly only?: readonly string[],
    rescanMs = 5_000,
  ) {
    this.interval = setInterval(() => void this.scan(), rescanMs).unref();
  }

  get(name: string): RegistryModelHandle | undefined {
    return this.handles.get(name);
  }

  /** The handle of `name`, rescanning the registry first when it is unknown and the last scan is over a second old. */
  async find(name: string): Promise<RegistryModelHandle | undefined> {
    const handle = this.handles.get(name);
    if (handle !== undefined || performance.now() - this.lastScan < 1_000) return handle;
    await this.scan();
    return this.handles.get(name);
  }

  /** The model a request names: 404 (RTML_E_UNKNOWN_MODEL) when the registry serves no such name. */
  async served(name: string): Promise<RegistryModelHandle> {
    const handle = this.handles.get(name) ?? (await this.find(name));
    if (handle === undefined) {
      const served = [...this.handles.keys()].sort((a, b) => a.localeCompare(b));
      throw new RtmlError('RTML_E_UNKNOWN_MODEL', `no model '${truncate(name)}' is served (serving: ${served.length === 0 ? 'none' : served.join(', ')})`);
    }
    return handle;
  }

  /** An explicit version (`3` or `v3`) of a served model: loaded once, then cached by the handle; 404 when the registry has no such version. */
  async version(handle: RegistryModelHandle, name: string, text: string): Promise<RegistryModel> {
    const n = /^v?(\d{1,9})$/.exec(text);
    if (n === null) throw new RtmlError('RTML_E_UNKNOWN_MODEL', `no version '${truncate(text)}': versions are numbers (1, 2, …)`);
    const number = Number(n[1]);
    try {
      return await handle.version(number);
    } catch (err) {
      const versions = await this.versions(name);
      if (versions.some((v) => v.version === number)) throw err;
      throw new RtmlError('RTML_E_UNKNOWN_MODEL', `model '${name}' has no version ${number} (versions: ${versions.map((v) => v.version).join(', ')})`);
    }
  }

  /** Every registered version of `name`, oldest first (the registry's list). */
  versions(name: string): Promise<ModelVersion[]> {
    return this.provider.registry.list(name);
  }

  /** Reads the registry's names and opens the ones that serve; concurrent calls share one scan. */
  scan(): Promise<void> {
    return (this.scanning ??= this.scanOnce().finally(() => (this.scanning = undefined)));
  }

  private async scanOnce(): Promise<void> {
    this.lastScan = performance.now();
    const registry = this.provider.registry;
    let versions: ModelVersion[];
    try {
      versions = await registry.list();
    } catch (err) {
      if (this.registryError === undefined) this.log(`rtml: serve: model registry ${registry.description} unreachable: ${errorMessage(err)}; retrying`);
      this.registryError = errorMessage(err);
      return;
    }
    this.registryError = undefined;
    const registered = new Set(versions.map((v) => v.name));
    for (const name of this.only ?? []) if (!registered.has(name)) this.idle.set(name, 'not registered');
    for (const name of this.only ?? registered) {
      if (!registered.has(name)) continue;
      if (this.handles.has(name) || this.closed) continue;
      try {
        const routing = await registry.routing(name);
        if (routing.production === null && routing.ab.length === 0) {
          this.idle.set(name, 'no production version and no A/B split: promote a version');
          continue;
        }
        const handle = await this.provider.open(name);
        if (this.closed) {
          await handle.close();
          return;
        }
        this.handles.set(name, handle);
        this.idle.delete(name);
        this.log(`rtml: serve: model ${name} loaded (${describe(handle)})`);
      } catch (err) {
        this.idle.set(name, `cannot be loaded: ${errorMessage(err)}`);
      }
    }
  }

  status(): { ready: boolean; reasons: string[]; models: ModelStatus[] } {
    const models: ModelStatus[] = [];
    for (const [name, handle] of this.handles) models.push({ name, serving: describe(handle) });
    for (const [name, reason] of this.idle) models.push({ name, serving: null, reason });
    models.sort((a, b) => a.name.localeCompare(b.name));
    const reasons: string[] = [];
    if (this.registryError !== undefined) reasons.push(`model registry ${this.provider.registry.description}: ${this.registryError}`);
    if (this.handles.size === 0) reasons.push(models.length === 0 ? 'no models registered: rtml models register <name> <file.onnx> --stage production' : 'no model has a production version');
    return { ready: reasons.length === 0, reasons, models };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.interval);
    await this.scanning;
    await this.provider.close();
  }
}

function describe(handle: RegistryModelHandle): string {
  const { routing } = handle.current();
  if (routing.ab.length > 0) return `A/B ${routing.ab.map((s) => `v${s.version}:${s.percent}%`).join(' ')}`;
  return `v${routing.production}`;
}
