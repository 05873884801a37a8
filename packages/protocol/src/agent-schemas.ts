import { z } from 'zod';
import { DeviceBackup } from './federation-backup-schemas.ts';
import { DesiredApp, ObservedApp } from './app-packages.ts';
import { BenchmarkChallenge } from './benchmark.ts';
import { Hardware, Id, Offer, SshPublicKey } from './device-schemas.ts';

/** Messages between a device's agent and its home server. */

export const RegisterBody = z
  .object({
    enrolmentToken: z.string().min(10).max(200),
    publicKey: SshPublicKey,
    hardware: Hardware,
    agentVersion: z.string().max(40),
  })
  .strict();
export type RegisterBody = z.infer<typeof RegisterBody>;

export const Registration = z.object({
  deviceId: Id,
  sshPort: z.number().int(),
  gateway: z.object({ host: z.string(), port: z.number().int(), hostKey: z.string() }),
});
export type Registration = z.infer<typeof Registration>;

/** What the agent has actually got running. */
export const ObservedContainer = z
  .object({
    rentalId: Id,
    state: z.enum(['starting', 'ready', 'failed']),
    detail: z.string().max(2000).optional(),
    /** The rental's deployment package: the agent reports the container `starting` until it is healthy, `failed` if it is not. */
    app: ObservedApp.optional(),
  })
  .strict();
export type ObservedContainer = z.infer<typeof ObservedContainer>;

export const HeartbeatBody = z
  .object({
    container: ObservedContainer.nullable(),
    hardware: Hardware.optional(),
    /**
     * Why the renter storage cannot be used (a wipe failed, the disk is missing or may
     * not be formatted): a sentence for the owner. While set, the device is not listed.
     * Absent from older agents, which leaves the server's value as it was.
     */
    storageFault: z.string().max(2000).nullable().optional(),
    /**
     * An encrypted rental's storage: locked (the device restarted and has not had the renter's
     * secret since, or the secret sent was wrong: `detail`) or unlocked. Null or absent: no
     * encrypted rental; absent from older agents.
     */
    storageLock: z
      .object({ rentalId: Id, locked: z.boolean(), detail: z.string().max(500).optional() })
      .strict()
      .nullable()
      .optional(),
    /** What the agent understands (version.ts agentProtocol); absent from agents before 2, which the server refuses. */
    agentProtocol: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();
export type HeartbeatBody = z.infer<typeof HeartbeatBody>;

/** The rental the server wants the device to run; null means "run nothing, wiped". */
export const DesiredRental = z.object({
  rentalId: Id,
  username: z.string(),
  /** The renter's password as a crypt(3) SHA-512 hash (`$6$salt$…`), for `chpasswd -e`; the device never gets the password. */
  passwordHash: z.string().regex(/^\$6\$[^$:\n]+\$[./0-9A-Za-z]{86}$/),
  authorizedKey: z.string().nullable(),
  expiresAt: z.string().nullable(),
  /**
   * What the container gets (cores, memory, disk, bandwidth): the offer it was rented with.
   * Absent from older servers; the agent then uses its own configured limits.
   */
  offer: Offer.optional(),
  /**
   * The renter asked for encrypted storage. `key`: their secret, sent while the server holds it
   * in memory (from the rent or an unlock until the agent reports the storage unlocked, or a
   * few minutes); the agent derives the storage key from it and keeps neither. Older servers: absent.
   */
  encryption: z
    .object({ key: z.string().max(1024).optional() })
    .strict()
    .optional(),
  /** A deployment package to install and start after the hand-over (docs/packages.md). Absent for none. */
  app: DesiredApp.optional(),
});
export type DesiredRental = z.infer<typeof DesiredRental>;

/**
 * One node of a cluster of servers, as a device reaches it: its API and its tunnel gateway.
 * Every node of a cluster shares the public URL (the audience of device signatures) and
 * the gateway's host key, so the key the device pinned at registration holds for them all.
 */
export const NodeAddress = z.object({
  apiUrl: z.string().url().max(500),
  gateway: z.object({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65_535) }),
});
export type NodeAddress = z.infer<typeof NodeAddress>;

export const HeartbeatReply = z.object({
  rental: DesiredRental.nullable(),
  heartbeatIntervalMs: z.number().int(),
  serverTime: z.string(),
  /** Measure yourself now and post the figures (agent/benchmark); only to an idle device. Older agents ignore it. */
  benchmark: BenchmarkChallenge.optional(),
  /**
   * What the device's next rental gets (its offer now), so an idle agent can make its clean
   * storage that size before anyone rents. Absent from older servers.
   */
  offer: Offer.optional(),
  /**
   * The cluster's live nodes: where the device goes when its node is gone (agent/server-nodes.ts).
   * Absent from a single server and from older servers.
   */
  nodes: z.array(NodeAddress).max(64).optional(),
  /** Backup peers that agreed to serve this device while its server is unreachable (agent/src/home-failover.ts). Absent: none. */
  backups: z.array(DeviceBackup).max(8).optional(),
});
export type HeartbeatReply = z.infer<typeof HeartbeatReply>;

/** Pushed on the agent's event stream: "sync now" rather than wait for the heartbeat. */
/**
 * A nudge from the server, inside the device's tunnel (a channel of its own, one JSON line
 * per nudge): "sync now", and for a new rental the rental itself, as the next heartbeat
 * would give it, so the agent can start on it without waiting for that heartbeat. `at` is
 * the server's time when it was sent: a heartbeat reply newer than it wins.
 */
export const AgentEvent = z.object({
  type: z.literal('sync'),
  reason: z.string().max(200),
  rental: DesiredRental.optional(),
  at: z.string().datetime().optional(),
});
export type AgentEvent = z.infer<typeof AgentEvent>;

/**
 * How an owner installs the agent on a device: the installer checks the code it downloads
 * against `sha256` (the server's /agent.tar.gz) before it unpacks anything as root.
 */
export const AgentInstall = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  installScriptUrl: z.string(),
  tarballUrl: z.string(),
  /** The whole command to run on the device; it asks for the enrolment token (never put in argv). */
  command: z.string(),
});
export type AgentInstall = z.infer<typeof AgentInstall>;

/**
 * The part of the Docker engine's `GET /info` the agent depends on: whether containers' root
 * is remapped to an unprivileged host user (SecurityOptions holds "name=userns"), and the
 * data root, whose last part names that mapping ("…/100000.100000").
 */
export const DockerEngineInfo = z.object({
  SecurityOptions: z.array(z.string()).default([]),
  DockerRootDir: z.string().default(''),
});
export type DockerEngineInfo = z.infer<typeof DockerEngineInfo>;
