/**
 * What the Ethereum rail needs from storage, as two small interfaces so the server can
 * back them with its database later, and in-memory versions for tests and development.
 */

import { emptyTrail, type ChainTrail } from './chain-trail.ts';

/** The last block number whose deposits have all been delivered to the sink, and the trail of hashes behind it. */
export interface BlockCursor {
  load(): Promise<bigint | null>;
  /** Saving without a trail clears it (as after setting the cursor back by hand). */
  save(blockNumber: bigint, trail?: ChainTrail): Promise<void>;
  loadTrail(): Promise<ChainTrail>;
}

/** Which addresses are renters' deposit addresses, and whose. */
export interface DepositDirectory {
  /**
   * Of `addresses` (lower-case 0x hex), the ones that are deposit addresses, mapped
   * (lower-case key) to the user each belongs to. Called once per scanned batch of blocks.
   */
  owners(addresses: readonly string[]): Promise<Map<string, string>>;
}

export class MemoryBlockCursor implements BlockCursor {
  private trail: ChainTrail = emptyTrail();

  constructor(private value: bigint | null = null) {}

  async load(): Promise<bigint | null> {
    return this.value;
  }

  async save(blockNumber: bigint, trail: ChainTrail = emptyTrail()): Promise<void> {
    this.value = blockNumber;
    this.trail = structuredClone(trail);
  }

  async loadTrail(): Promise<ChainTrail> {
    return structuredClone(this.trail);
  }
}

export class MemoryDepositDirectory implements DepositDirectory {
  private readonly users = new Map<string, string>();

  /** Records that `address` (any case) receives deposits for `userId`. */
  assign(address: string, userId: string): void {
    this.users.set(address.toLowerCase(), userId);
  }

  async owners(addresses: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const address of addresses) {
      const userId = this.users.get(address.toLowerCase());
      if (userId !== undefined) found.set(address.toLowerCase(), userId);
    }
    return found;
  }
}
