import { z } from 'zod';

/**
 * Resource schemas shared by server, agent, CLI and (later) web. Types are inferred
 * from these, never declared a second time.
 */

const id = z.string().regex(/^[a-z0-9]{6,40}$/, 'must be an ID of lowercase letters and digits');
export const Id = id;
const isoTime = z.string().datetime({ offset: true });

export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address like you@example.org');
export const Password = z.string().min(10, 'must be at least 10 characters').max(256);

/** An OpenSSH public key line; only key types OpenSSH accepts by default. */
export const SshPublicKey = z
  .string()
  .trim()
  .max(16_384)
  .regex(
    /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/,
    'must be one OpenSSH public key line, like "ssh-ed25519 AAAA… you@host"',
  );

/** Money is integer micro-units of the server's currency (1 USD = 1,000,000). */
export const Micros = z.number().int().min(0).max(1_000_000_000_000);

export const User = z.object({
  id,
  email: z.string(),
  isAdmin: z.boolean(),
  createdAt: isoTime,
});
export type User = z.infer<typeof User>;

export const Credentials = z.object({ email: Email, password: Password }).strict();
export const Session = z.object({ token: z.string(), user: User });
export type Session = z.infer<typeof Session>;

export const Hardware = z
  .object({
    cpuModel: z.string().max(200),
    cores: z.number().int().min(1).max(4096),
    memoryBytes: z.number().int().min(0),
    diskBytes: z.number().int().min(0),
    arch: z.string().max(40),
  })
  .strict();
export type Hardware = z.infer<typeof Hardware>;

export const DeviceStatus = z.enum(['awaiting_enrolment', 'offline', 'online', 'rented']);
export type DeviceStatus = z.infer<typeof DeviceStatus>;

export const Device = z.object({
  id,
  name: z.string(),
  description: z.string(),
  status: DeviceStatus,
  online: z.boolean(),
  onMarket: z.boolean(),
  listed: z.boolean(),
  pricePerHourMicros: Micros.nullable(),
  sshPort: z.number().int(),
  /** The device's public web name: HTTP and HTTPS for it reach its rental's container. */
  webHost: z.string(),
  hardware: Hardware.nullable(),
  enrolledAt: isoTime.nullable(),
  lastHeartbeatAt: isoTime.nullable(),
  lastSeenAt: isoTime.nullable(),
  openRentalId: id.nullable(),
  createdAt: isoTime,
});
export type Device = z.infer<typeof Device>;

const DeviceName = z.string().trim().min(1, 'must not be empty').max(80);
const Description = z.string().trim().max(2000);

export const AddDeviceBody = z.object({ name: DeviceName, description: Description.default('') }).strict();
export const EnrolmentTokenGrant = z.object({
  device: Device,
  enrolmentToken: z.string(),
  expiresAt: isoTime,
  /** The API URL the device should use in its device-config.json. */
  serverUrl: z.string(),
});
export type EnrolmentTokenGrant = z.infer<typeof EnrolmentTokenGrant>;

export const UpdateDeviceBody = z
  .object({
    name: DeviceName.optional(),
    description: Description.optional(),
    pricePerHourMicros: Micros.optional(),
    onMarket: z.boolean().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one of name, description, pricePerHourMicros, onMarket');

export const DeviceParams = z.object({ deviceId: id }).strict();
export const RentalParams = z.object({ rentalId: id }).strict();

export const Listing = z.object({
  deviceId: id,
  name: z.string(),
  description: z.string(),
  hardware: Hardware,
  pricePerHourMicros: Micros,
  homeServer: z.string(),
  listedSince: isoTime.nullable(),
});
export type Listing = z.infer<typeof Listing>;

const queryInt = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const MarketQuery = z
  .object({
    sort: z.enum(['price', 'memory', 'cores', 'disk']).default('price'),
    order: z.enum(['asc', 'desc']).default('asc'),
    maxPriceMicros: queryInt.optional(),
    minMemoryBytes: queryInt.optional(),
    minCores: queryInt.optional(),
    minDiskBytes: queryInt.optional(),
    arch: z.string().max(40).optional(),
  })
  .strict();
export type MarketQuery = z.infer<typeof MarketQuery>;

export const RentalState = z.enum(['requested', 'active', 'ending', 'ended']);
export type RentalState = z.infer<typeof RentalState>;
export const EndReason = z.enum(['renter_stopped', 'expired', 'device_removed', 'device_lost', 'provisioning_failed', 'balance_exhausted']);
export type EndReason = z.infer<typeof EndReason>;

export const RentBody = z
  .object({
    deviceId: id,
    sshPublicKey: SshPublicKey.optional(),
    hours: z
      .number()
      .int()
      .min(1)
      .max(24 * 366)
      .optional(),
  })
  .strict();

export const Connection = z.object({
  host: z.string(),
  port: z.number().int(),
  username: z.string(),
  /** Empty once the rental has ended: the container it opened is gone. */
  password: z.string(),
  /** Whether the renter gave an SSH public key (else they log in with the password). */
  sshKeyGiven: z.boolean(),
  sshCommand: z.string(),
  /** The device's public name; ports 80 and 443 of the container answer on it. */
  webHost: z.string(),
  httpUrl: z.string(),
  httpsUrl: z.string(),
});

export const Rental = z.object({
  id,
  deviceId: id,
  deviceName: z.string(),
  state: RentalState,
  endReason: EndReason.nullable(),
  detail: z.string().nullable(),
  createdAt: isoTime,
  activatedAt: isoTime.nullable(),
  expiresAt: isoTime.nullable(),
  endedAt: isoTime.nullable(),
  connection: Connection,
});
export type Rental = z.infer<typeof Rental>;

export const RentalsQuery = z.object({ all: z.enum(['true', 'false']).optional() }).strict();

export const ServerInfo = z.object({
  name: z.string(),
  /** ISO 4217 code of the currency prices are in; amounts are micro-units of it. */
  currency: z.string(),
  publicUrl: z.string(),
  version: z.string(),
  sshHost: z.string(),
  gatewayPort: z.number().int(),
});
export type ServerInfo = z.infer<typeof ServerInfo>;

export const Empty = z.object({}).strict();
export const Ok = z.object({ ok: z.literal(true) });

/** Money in JSON: integer micro-units of the server's currency (1 unit = 1,000,000). */
const micros = z
  .number()
  .int()
  .min(-(2 ** 53) + 1)
  .max(2 ** 53 - 1);

export const Balance = z.object({
  currency: z.string(),
  /** What you can spend on rentals. */
  balanceMicros: micros,
  /** What your devices have earned, not yet paid out. */
  earningsMicros: micros,
});
export type Balance = z.infer<typeof Balance>;

export const StatementLine = z.object({
  at: isoTime,
  account: z.enum(['renter_balance', 'owner_earnings', 'payouts_pending']),
  kind: z.string(),
  memo: z.string(),
  rentalId: z.string().nullable(),
  amountMicros: micros,
});
export type StatementLine = z.infer<typeof StatementLine>;
export const Statement = z.object({ currency: z.string(), lines: z.array(StatementLine) });

export const CreditBody = z
  .object({
    email: Email,
    /** Positive grants credit; negative takes some back (never more than the balance). */
    amountMicros: micros.refine((n) => n !== 0, 'must not be zero'),
    memo: z.string().max(200).optional(),
  })
  .strict();
export const CreditResult = z.object({ email: z.string(), balanceMicros: micros });
