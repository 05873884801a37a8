import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registration } from '@p2pvps/protocol/agent-schemas';
import { z } from 'zod';

/**
 * What the agent must remember across restarts of itself or the device: who it is, and
 * which rental's container it runs. Written atomically (temp file + rename).
 */
export const AgentState = z.object({
  serverUrl: z.string(),
  registration: Registration.nullable(),
  rental: z.object({ rentalId: z.string(), containerId: z.string(), expiresAt: z.string().nullable() }).nullable(),
  /**
   * The UUID of the renter storage's filesystem while it is freshly wiped and no container
   * has used it; null once a rental has (or may have) written to it.
   */
  cleanStorageUuid: z.string().nullable().default(null),
  /** When the agent last heard from the server (ISO); the clock for timing.dataKeepMs. */
  lastServerContactAt: z.string().nullable().default(null),
  /**
   * A rental the agent gave up while the server was unreachable (container destroyed, storage
   * wiped), reported to the server as failed until it no longer names that rental.
   */
  lostRental: z.object({ rentalId: z.string(), detail: z.string() }).nullable().default(null),
});
export type AgentState = z.infer<typeof AgentState>;

export class StateFile {
  readonly path: string;
  constructor(dataDir: string) {
    this.path = join(dataDir, 'state.json');
  }

  read(serverUrl: string): AgentState {
    const empty: AgentState = {
      serverUrl,
      registration: null,
      rental: null,
      cleanStorageUuid: null,
      lastServerContactAt: null,
      lostRental: null,
    };
    if (!existsSync(this.path)) return empty;
    const parsed = AgentState.safeParse(JSON.parse(readFileSync(this.path, 'utf8')));
    if (!parsed.success) throw new Error(`${this.path} is damaged; move it away to re-enrol this device`);
    // A device moved to another server must enrol there afresh.
    return parsed.data.serverUrl === serverUrl
      ? parsed.data
      : {
          ...empty,
          rental: parsed.data.rental,
          cleanStorageUuid: parsed.data.cleanStorageUuid,
          lastServerContactAt: parsed.data.lastServerContactAt,
        };
  }

  write(state: AgentState): void {
    writeFileSync(`${this.path}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
    renameSync(`${this.path}.tmp`, this.path);
  }
}
