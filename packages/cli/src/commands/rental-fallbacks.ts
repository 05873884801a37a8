import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { Id, RentalFallback, type Rental } from '@p2pvps/protocol/schemas';

/**
 * A running rental's backup addresses (docs/federation.md, "Backup peers and failover"),
 * kept beside the CLI's config whenever the rental's server names them, so that `ssh`
 * still finds the rental when that server cannot be reached. No password is kept: a
 * rental rented with a key logs in with it; one without asks for its password.
 */
const CachedRental = z.object({
  id: Id,
  deviceId: z.string(),
  deviceName: z.string(),
  username: z.string(),
  sshKeyGiven: z.boolean(),
  fallbacks: z.array(RentalFallback).min(1),
});
export type CachedRental = z.infer<typeof CachedRental>;

export function fallbacksDir(configPath: string): string {
  return join(dirname(configPath), 'fallbacks.d');
}

/** Remembers the rental's fallbacks, if it has any (mode 0600, in a 0700 directory). */
export function rememberFallbacks(configPath: string, rental: Rental): void {
  if (!rental.fallbacks?.length || !Id.safeParse(rental.id).success) return;
  const entry: CachedRental = {
    id: rental.id,
    deviceId: rental.deviceId,
    deviceName: rental.deviceName,
    username: rental.connection.username,
    sshKeyGiven: rental.connection.sshKeyGiven,
    fallbacks: rental.fallbacks,
  };
  mkdirSync(fallbacksDir(configPath), { recursive: true, mode: 0o700 });
  writeFileSync(join(fallbacksDir(configPath), `${rental.id}.json`), JSON.stringify(entry), { mode: 0o600 });
}

/** The remembered rental named by ID or by its device's ID or name; undefined if none (or more than one) matches. */
export function findFallbacks(configPath: string, which: string): CachedRental | undefined {
  let names: string[];
  try {
    names = readdirSync(fallbacksDir(configPath)).filter((n) => n.endsWith('.json'));
  } catch {
    return undefined;
  }
  const entries = names.flatMap((n) => {
    try {
      const parsed = CachedRental.safeParse(JSON.parse(readFileSync(join(fallbacksDir(configPath), n), 'utf8')));
      return parsed.success ? [parsed.data] : [];
    } catch {
      return [];
    }
  });
  const byId = entries.find((e) => e.id === which);
  if (byId) return byId;
  const byDevice = entries.filter((e) => e.deviceId === which || e.deviceName === which);
  return byDevice.length === 1 ? byDevice[0] : undefined;
}
