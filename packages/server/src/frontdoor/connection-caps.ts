/**
 * Open connections counted by key (a source address, a device, a device and a source),
 * so that a cap on each keeps one client from taking every slot of a site or a door.
 */
export class SlotCounts {
  private readonly counts = new Map<string, number>();

  /** A slot under `key`, or null when `max` are taken already. The release is idempotent. */
  take(key: string, max: number): (() => void) | null {
    const n = this.counts.get(key) ?? 0;
    if (n >= max) return null;
    this.counts.set(key, n + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left <= 0) this.counts.delete(key);
      else this.counts.set(key, left);
    };
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}
