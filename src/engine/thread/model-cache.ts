/**
 * Loaded models kept by the engine thread, least recently used first out. Sizes are estimates (the manifest's
 * ONNX + external-data bytes) taken before loading, so a model is only loaded once room has been made for it.
 */
export interface Disposable {
  dispose(): Promise<void>;
}

interface Entry<T> {
  model: Promise<T>;
  bytes: number;
}

export class ModelCache<T extends Disposable> {
  /** Insertion order = recency order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry<T>>();

  /** @param budgetBytes total estimated bytes of loaded models; undefined = no limit */
  constructor(private readonly budgetBytes?: number) {}

  /**
   * The model for `key`, loading it when absent. Before a load, least recently used models are disposed until the
   * new one fits the budget; one larger than the whole budget is loaded alone. A failed load is not kept.
   */
  async get(key: string, estimateBytes: () => Promise<number>, load: () => Promise<T>): Promise<T> {
    const cached = this.entries.get(key);
    if (cached) {
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached.model;
    }
    const bytes = await estimateBytes();
    if (this.budgetBytes !== undefined) {
      for (const [oldest, entry] of this.entries) {
        if (this.usedBytes() + bytes <= this.budgetBytes) break;
        this.entries.delete(oldest);
        await entry.model.then((m) => m.dispose(), () => undefined);
      }
    }
    const entry: Entry<T> = { model: load(), bytes };
    this.entries.set(key, entry);
    entry.model.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return entry.model;
  }

  /** Keys of the models that loaded, least recently used first. */
  async keys(): Promise<string[]> {
    const settled = await Promise.allSettled([...this.entries].map(async ([key, entry]) => (await entry.model, key)));
    return settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  usedBytes(): number {
    let total = 0;
    for (const entry of this.entries.values()) total += entry.bytes;
    return total;
  }

  /** Disposes every model. */
  async clear(): Promise<void> {
    const models = [...this.entries.values()].map((e) => e.model);
    this.entries.clear();
    for (const result of await Promise.allSettled(models)) if (result.status === 'fulfilled') await result.value.dispose();
  }
}
