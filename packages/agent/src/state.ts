import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NodeAddress, Registration } from '@p2pvps/protocol/agent-schemas';
import { DeviceBackup } from '@p2pvps/protocol/federation-backup-schemas';
import { z } from 'zod';

/**
 * What the agent must remember across restarts of itself or the device: who it is, and
 * which rental's container it runs. Written durably: each copy goes to a temp file that is
 * fsynced, renamed over the old one, and the directory fsynced, so a power cut leaves
 * either the old or the new state, never an empty file. state.json.bak holds the same
 * state, written first, so a state.json damaged anyway (a failing SD card) falls back to it.
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
  /** The cluster's nodes as the server last sent them (server-nodes.ts): where to go when this device's node is gone. */
  nodes: z.array(NodeAddress).default([]),
  /** Backup peers as the server last named them (home-failover.ts): where the tunnel goes while the server is unreachable. */
  backups: z.array(DeviceBackup).default([]),
});
export type AgentState = z.infer<typeof AgentState>;

/** The exit status of an agent that cannot read its state: systemd must not restart it (RestartPreventExitStatus=). */
export const stateDamagedExitCode = 78;

/** state.json and its backup cannot be read: the agent must not guess which rental it runs. */
export class StateFileDamaged extends Error {
  readonly exitCode = stateDamagedExitCode;
}

export class StateFile {
  readonly path: string;
  readonly backupPath: string;
  /** Set when read() fell back to the backup, for the agent to log. */
  recoveredFrom: string | null = null;
  constructor(dataDir: string) {
    this.path = join(dataDir, 'state.json');
    this.backupPath = `${this.path}.bak`;
  }

  read(serverUrl: string): AgentState {
    const empty: AgentState = {
      serverUrl,
      registration: null,
      rental: null,
      cleanStorageUuid: null,
      lastServerContactAt: null,
      lostRental: null,
      nodes: [],
      backups: [],
    };
    if (!existsSync(this.path) && !existsSync(this.backupPath)) return empty;
    let state = load(this.path);
    if (typeof state === 'string') {
      const backup = load(this.backupPath);
      if (typeof backup === 'string')
        throw new StateFileDamaged(
          `The agent's state file ${this.path} is damaged (${state}) and so is its backup ${this.backupPath} (${backup}). ` +
            `The agent cannot tell which rental it runs, so it stops rather than guess. To start afresh, move both away ` +
            `(mv ${this.path} ${this.path}.damaged; mv ${this.backupPath} ${this.backupPath}.damaged), ` +
            'get a new enrolment token for the device from its owner (the dashboard), run "p2pvps agent init --token-file FILE --force", ' +
            'and start the agent again; the renter storage is wiped before the device is listed again.',
        );
      this.recoveredFrom = `${this.path} was damaged (${state}); carried on from ${this.backupPath}`;
      state = backup;
      this.write(state);
    }
    // A device moved to another server must enrol there afresh.
    return state.serverUrl === serverUrl
      ? state
      : {
          ...empty,
          rental: state.rental,
          cleanStorageUuid: state.cleanStorageUuid,
          lastServerContactAt: state.lastServerContactAt,
        };
  }

  write(state: AgentState): void {
    const text = JSON.stringify(state, null, 2);
    // The backup first: while state.json is being replaced, the backup is whole.
    writeDurably(this.backupPath, text);
    writeDurably(this.path, text);
  }
}

/** The state in a file, or why it cannot be read. */
function load(path: string): AgentState | string {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'not JSON';
  }
  const parsed = AgentState.safeParse(json);
  return parsed.success ? parsed.data : 'not an agent state';
}

function writeDurably(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename itself is only durable once the directory is.
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
