import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * The name this server node goes by in the cluster's shared rows (who holds a lease): the
 * operator's `--node-id`, or the host's name and a random suffix, new at every start, so two
 * processes on one host, or a restarted one, are never taken for each other.
 */
export function nodeIdentity(configured: string | undefined): string {
  if (configured) return configured;
  const host = hostname()
    .replace(/[^A-Za-z0-9.-]/g, '-')
    .slice(0, 40);
  return `${host || 'node'}-${randomBytes(4).toString('hex')}`;
}
