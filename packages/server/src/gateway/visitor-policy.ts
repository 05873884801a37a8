/** A device's policy as the gateway needs it for a visitor: enough to say whether to carry them. */
export interface VisitorPolicy {
  sshPort: number;
  publicPortOpen?: boolean;
}

/**
 * Remembers, per device, the policy its last visitor connection was carried under, so a
 * renter's client opening connection after connection costs the policy store (two SQL
 * queries) once, not every time. Only a policy that lets visitors through is kept, briefly,
 * and the gateway forgets it whenever the server says the device changed (`refresh`: a
 * rental started or ended, on every node of a cluster), the device is disconnected or its
 * tunnel closes; a lookup that began before such a change does not store what it found.
 * The same rules as the front doors' WebRouteCache (domain/devices/web-routing.ts).
 */
export class VisitorPolicyCache<P extends VisitorPolicy> {
  private readonly entries = new Map<string, { policy: P; until: number }>();
  /** Bumped by forget(): a lookup under way then must not store its answer. */
  private generation = 0;

  constructor(
    private readonly lookup: (deviceId: string) => Promise<P | null>,
    private readonly now: () => number,
    private readonly ttlMs = 5_000,
  ) {}

  async get(deviceId: string): Promise<P | null> {
    const hit = this.entries.get(deviceId);
    if (hit && hit.until > this.now()) return hit.policy;
    const generation = this.generation;
    const policy = await this.lookup(deviceId);
    if (policy && policy.publicPortOpen !== false && generation === this.generation) {
      this.entries.set(deviceId, { policy, until: this.now() + this.ttlMs });
    } else if (generation === this.generation) {
      this.entries.delete(deviceId);
    }
    return policy;
  }

  forget(deviceId: string): void {
    this.generation++;
    this.entries.delete(deviceId);
  }
}
