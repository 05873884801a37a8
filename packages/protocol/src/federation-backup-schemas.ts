import { z } from 'zod';
import { Fingerprint, PeerUrl } from './federation-ids.ts';

/**
 * Backup peers (docs/federation.md, "Backup peers and failover"): B, a device's home
 * server, asks a peer C to back its devices up; C answers a signed agreement; B sends C
 * every backed-up device and its running rental; a device whose home is unreachable opens
 * its tunnel to C's gateway, which serves the running rental; when B returns, C hands back
 * the minutes it served, signed.
 */

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url without padding');
const isoTime = z.string().datetime({ offset: true });
const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

/** The gateway a device opens its tunnel to, with the host key it pins (an OpenSSH public key line). */
export const BackupGateway = z.object({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65_535),
  hostKey: z
    .string()
    .regex(/^ssh-ed25519 [A-Za-z0-9+/=]+( .*)?$/, 'must be an ssh-ed25519 public key line')
    .max(500),
});
export type BackupGateway = z.infer<typeof BackupGateway>;

/** `POST /federation/v1/backups` (B→C): B asks C to back its devices up. */
export const BackupRequest = z.object({ maxDevices: z.number().int().min(1).max(10_000) }).strict();

/** C's answer: signed by C over the canonical JSON of every field but `signature`. */
export const BackupAgreement = z.object({
  type: z.literal('p2pvps-backup-agreement'),
  issuer: PeerUrl,
  keyId: Fingerprint,
  home: PeerUrl,
  backup: PeerUrl,
  gateway: BackupGateway,
  webDomain: z.string().min(1).max(255),
  /** C's share, in basis points, of what the minutes it served are worth: B owes it to C. */
  backupFeeBps: z.number().int().min(0).max(10_000),
  maxDevices: z.number().int().min(0).max(10_000),
  validUntil: isoTime,
  signature: base64url,
});
export type BackupAgreement = z.infer<typeof BackupAgreement>;

/** A backed-up device's running rental, as B tells C: never the password in clear, never the renter beyond their server. */
export const BackupRental = z.object({
  rentalId: id,
  username: z.string().min(1).max(64),
  passwordCrypt: z.string().regex(/^\$6\$[^$:\n]+\$[./0-9A-Za-z]{86}$/),
  sshPublicKey: z.string().max(2000).nullable(),
  expiresAt: isoTime.nullable(),
  pricePerHourMicros: z.string().regex(/^\d{1,18}$/),
  /** The renter's own server when it is not B (a cross-server rental); null for B's own renters. */
  renterOrigin: PeerUrl.nullable(),
});
export type BackupRental = z.infer<typeof BackupRental>;

export const BackupDevice = z.object({
  deviceId: id,
  /** The device's own key, OpenSSH line: the only key C's gateway admits it with. */
  agentPublicKey: z
    .string()
    .regex(/^ssh-ed25519 [A-Za-z0-9+/=]+( .*)?$/)
    .max(500),
  /** The label of the device's web name; C serves it under its own web domain. */
  webName: z.string().regex(/^[a-z0-9-]{1,63}$/),
  rental: BackupRental.nullable(),
});
export type BackupDevice = z.infer<typeof BackupDevice>;

/** `POST /federation/v1/backups/devices` (B→C): every backed-up device now, a whole snapshot. */
export const BackupSnapshot = z.object({ devices: z.array(BackupDevice).max(10_000) }).strict();
export type BackupSnapshot = z.infer<typeof BackupSnapshot>;

/** Where C serves a device while it is there: its public SSH port on C and its web name under C's domain. */
export const BackupAssignment = z.object({
  deviceId: id,
  sshPort: z.number().int().min(1).max(65_535),
  webHost: z.string().min(1).max(300),
});
export type BackupAssignment = z.infer<typeof BackupAssignment>;
export const BackupSnapshotReply = z.object({ accepted: z.number().int().min(0), devices: z.array(BackupAssignment) });
export type BackupSnapshotReply = z.infer<typeof BackupSnapshotReply>;

/** One stretch C served a rental of B's, signed by C. */
export const BackupHandback = z.object({
  type: z.literal('p2pvps-backup-handback'),
  issuer: PeerUrl,
  keyId: Fingerprint,
  home: PeerUrl,
  serviceId: id,
  deviceId: id,
  rentalId: id,
  from: isoTime,
  to: isoTime,
  minutes: z.number().int().min(0),
  backupFeeBps: z.number().int().min(0).max(10_000),
  signature: base64url,
});
export type BackupHandback = z.infer<typeof BackupHandback>;
/** `POST /federation/v1/backups/handback` (C→B). */
export const BackupHandbackBody = z.object({ handbacks: z.array(z.unknown()).max(1000) }).strict();
export const BackupHandbackReply = z.object({
  accepted: z.number().int().min(0),
  /** What B recorded for each: the minutes' worth at the rental's price, and C's fee on it (integer micro-units). */
  recorded: z.array(z.object({ serviceId: id, amountMicros: z.string(), feeMicros: z.string() })),
});

/** In B's heartbeat reply: where the device goes when B cannot be reached. */
export const DeviceBackup = z.object({
  server: z.string().url().max(300),
  gateway: BackupGateway,
  sshPort: z.number().int().min(1).max(65_535),
  webHost: z.string().max(300),
  validUntil: isoTime,
});
export type DeviceBackup = z.infer<typeof DeviceBackup>;

/** The operator's switch: this server backs the peer's devices up, or no longer. */
export const PeerBackupBody = z.object({ allow: z.boolean() }).strict();
export const PeerBackupState = z.object({
  peerId: z.string(),
  /** We back this peer's devices up. */
  backsUp: z.boolean(),
  /** This peer agreed to back ours up, until then (null: no agreement). */
  backsUsUpUntil: isoTime.nullable(),
  /** Devices of the peer we hold in our last snapshot from it. */
  devices: z.number().int().min(0),
});
export const BackupOverview = z.object({ peers: z.array(PeerBackupState) });

export const federationBackupsPath = '/federation/v1/backups';
export const federationBackupDevicesPath = '/federation/v1/backups/devices';
export const federationHandbackPath = '/federation/v1/backups/handback';
