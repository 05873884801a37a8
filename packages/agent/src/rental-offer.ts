import type { Offer } from '@p2pvps/protocol/device-schemas';

/**
 * What a rental's container gets, from the offer the server sends with the rental (what the
 * renter was shown on the market). A server from before offers sends none: the agent then
 * uses its own configured limits (options cpus, memoryMb) and the whole renter storage, as
 * it always did.
 */
export interface RentalLimits {
  /** The CPUs the container may run on (Docker's cpuset, "2-3"): as many as rented, so `nproc` inside says so. */
  cpuset: string;
  /** CPU time, in cores: the same number, so a renter cannot use more than rented even if the set were wider. */
  nanoCpus: number;
  memoryBytes: number;
  pidsLimit: number;
  /** The size of the renter's /home filesystem; null for the whole renter storage. */
  diskBytes: number | null;
  /** The rental's cap each way in Mbit/s; null for none (the owner's device-wide caps still hold). */
  bandwidthMbit: number | null;
}

export interface ConfiguredLimits {
  cpus: number;
  memoryMb: number;
  pidsLimit: number;
}

/**
 * The last `count` of the host's CPUs ("2-3" of four): the kernel and the owner's services
 * tend to live on CPU 0, where many boards route their interrupts, so renters get the
 * others first.
 */
export function cpusetOf(count: number, hostCores: number): string {
  const n = Math.max(1, Math.min(count, hostCores));
  const first = hostCores - n;
  return n === 1 ? String(first) : `${first}-${hostCores - 1}`;
}

export function rentalLimits(offer: Offer | undefined, configured: ConfiguredLimits, hostCores: number): RentalLimits {
  if (!offer) {
    return {
      // A fractional limit (1.5) still runs on whole CPUs: two here, at 1.5 cores of time.
      cpuset: cpusetOf(Math.ceil(configured.cpus), hostCores),
      nanoCpus: Math.round(configured.cpus * 1e9),
      memoryBytes: configured.memoryMb * 1024 * 1024,
      pidsLimit: configured.pidsLimit,
      diskBytes: null,
      bandwidthMbit: null,
    };
  }
  const cores = Math.min(offer.cores, hostCores);
  return {
    cpuset: cpusetOf(cores, hostCores),
    nanoCpus: cores * 1e9,
    memoryBytes: offer.memoryBytes,
    pidsLimit: configured.pidsLimit,
    diskBytes: offer.diskBytes,
    bandwidthMbit: offer.bandwidthMbit,
  };
}
