/**
 * Picks the lowest free port in the range. The unique constraint on devices.ssh_port is
 * what makes allocation atomic: a caller that loses a race gets a unique violation and
 * asks again with a fresh view of the used ports.
 */
export function lowestFreePort([lo, hi]: readonly [number, number], used: ReadonlySet<number>): number | null {
  for (let port = lo; port <= hi; port++) if (!used.has(port)) return port;
  return null;
}
