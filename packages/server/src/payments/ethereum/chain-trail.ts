/**
 * The trail a chain watcher keeps behind its cursor: the hash of each of the last blocks it
 * scanned and the deposits it credited from each. Before scanning on, the watcher checks that
 * the node still has the newest of those blocks; if not, the chain was reorganised under it
 * (deeper than its confirmations, or while it was stopped), and it walks back along the trail
 * to the newest block both chains share, rewinds the cursor there and scans again. Deposits
 * credited from blocks that are gone become orphans: once the rescan has passed where they
 * were, any not found again are taken back.
 *
 * Plain JSON (numbers as strings) so a database column can hold it.
 */
export interface TrailEvent {
  eventId: string;
  userId: string;
  /** Micro-units, as a decimal string. */
  amountMicros: string;
  reference: string;
}

export interface TrailBlock {
  number: string;
  hash: string;
  events: TrailEvent[];
}

export interface ChainTrail {
  /** Oldest first, consecutive, ending at the cursor. */
  blocks: TrailBlock[];
  /** Credits from blocks a reorg removed, waiting for the rescan to pass `until`. */
  orphans?: { until: string; events: TrailEvent[] };
}

/** Blocks kept: a reorg deeper than this (past Ethereum's finality, about 64 blocks) cannot be followed. */
export const trailLength = 128;

export const emptyTrail = (): ChainTrail => ({ blocks: [] });

/** The trail after scanning `blocks` (consecutive, after the trail's end or replacing what was after `from - 1`). */
export function extendTrail(
  trail: ChainTrail,
  from: bigint,
  blocks: { number: bigint; hash: string }[],
  events: Map<bigint, TrailEvent[]>,
): ChainTrail {
  const kept = trail.blocks.filter((b) => BigInt(b.number) < from);
  const added = blocks.map((b) => ({ number: String(b.number), hash: b.hash, events: events.get(b.number) ?? [] }));
  return { ...trail, blocks: [...kept, ...added].slice(-trailLength) };
}

/**
 * Where the node's chain and the trail last agree: the newest trail block whose hash the node
 * still has at that number (`hashAt` asks the node), or null when none of them is left.
 */
export async function forkPoint(trail: ChainTrail, hashAt: (n: bigint) => Promise<string | null>): Promise<TrailBlock | null> {
  for (let i = trail.blocks.length - 1; i >= 0; i--) {
    const block = trail.blocks[i]!;
    if ((await hashAt(BigInt(block.number))) === block.hash) return block;
  }
  return null;
}
