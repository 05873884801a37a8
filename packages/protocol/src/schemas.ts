import { z } from 'zod';
import { AppPackageName, RentalApp, RentPackage } from './app-packages.ts';
import { HardwareVerification } from './benchmark.ts';
import { Hardware, Id, Offer, rentalSystemDiskBytes, SshPublicKey } from './device-schemas.ts';

// Defined in device-schemas.ts, which the agent loads without the rest of this file (docs/benchmarks.md, "Agent footprint").
export { Hardware, Id, Offer, rentalSystemDiskBytes, SshPublicKey };

/**
 * Resource schemas shared by server, agent, CLI and (later) web. Types are inferred
 * from these, never declared a second time.
 */

const id = Id;
const isoTime = z.string().datetime({ offset: true });

export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address like you@example.org');
export const Password = z.string().min(10, 'must be at least 10 characters').max(256);

/** Money is integer micro-units of the server's currency (1 USD = 1,000,000). */
export const Micros = z.number().int().min(0).max(1_000_000_000_000);
/** Money in JSON: integer micro-units of the server's currency (1 unit = 1,000,000). */
const micros = z
  .number()
  .int()
  .min(-(2 ** 53) + 1)
  .max(2 ** 53 - 1);

export const User = z.object({
  id,
  email: z.string(),
  isAdmin: z.boolean(),
  createdAt: isoTime,
  /** Whether the address is confirmed (its owner opened the link mailed to it); until then the server mails it nothing else. */
  emailVerified: z.boolean(),
});
export type User = z.infer<typeof User>;

export const Credentials = z.object({ email: Email, password: Password }).strict();
export const Session = z.object({ token: z.string(), user: User });
export type Session = z.infer<typeof Session>;

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
  /** The device's public SSH port: given at its first enrolment, null until then. */
  sshPort: z.number().int().nullable(),
  /** The device's public web name: HTTP and HTTPS for it reach its rental's container. */
  webHost: z.string(),
  /** The device's own hardware, as its agent reports it: for its owner, never shown to renters. */
  hardware: Hardware.nullable(),
  /** What one rental gets (the owner's offer, or the default until they set one); null until the device enrols. */
  offer: Offer.nullable().optional(),
  /** True while the device has no offer of its owner's and rentals get the default. */
  offerIsDefault: z.boolean().optional(),
  enrolledAt: isoTime.nullable(),
  lastHeartbeatAt: isoTime.nullable(),
  lastSeenAt: isoTime.nullable(),
  openRentalId: id.nullable(),
  /** Why the device's renter storage cannot be used (say, a wipe failed); while set the device is not listed. */
  storageFault: z.string().nullable(),
  /** While the rental's encrypted storage is locked (the device restarted) and waits for its renter's secret, why; else null. */
  storageLocked: z.string().nullable().optional(),
  /** Share of the time since enrolment the tunnel was up, in percent; null until a day of history exists. */
  uptimePercent: z.number().min(0).max(100).nullable(),
  /** Reliability score over the last 30 days in percent (docs/reliability.md); null while the device is new. */
  reliabilityPercent: z.number().min(0).max(100).nullable(),
  /** Why the last benchmark did not bear out the device's claims; while set the device is not listed. */
  hardwareFlag: z.string().nullable().optional(),
  /** The last benchmark's figures beside the claimed ones; null until one ran. */
  verified: HardwareVerification.nullable().optional(),
  /** Deployment packages its owner refuses on it (docs/packages.md). */
  refusedPackages: z.array(z.string()).optional(),
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
    /** Changes to what one rental gets (the rest stays); null goes back to the default. A running rental keeps what it was rented with. */
    offer: Offer.partial().strict().nullable().optional(),
    /** Deployment packages the owner refuses on this device (the whole list; empty allows all). */
    refusedPackages: z.array(AppPackageName).max(100).optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one of name, description, pricePerHourMicros, onMarket, offer, refusedPackages');

export const DeviceParams = z.object({ deviceId: id }).strict();
export const RentalParams = z.object({ rentalId: id }).strict();

/** Renters' ratings of a device: how many, and their mean stars (one decimal; null with none). */
export const RatingSummary = z.object({ count: z.number().int().min(0), average: z.number().min(1).max(5).nullable() });
export type RatingSummary = z.infer<typeof RatingSummary>;

export const Listing = z.object({
  deviceId: id,
  name: z.string(),
  description: z.string(),
  /** What one rental gets: the offer's cores, memory and disk, with the device's CPU model and architecture. */
  hardware: Hardware,
  /** The rental's bandwidth cap each way in Mbit/s; null for none. */
  bandwidthMbit: z.number().nullable().optional(),
  pricePerHourMicros: Micros,
  homeServer: z.string(),
  /** A peer server's device (docs/federation.md): its home server's base URL; absent for this server's own devices. */
  homeServerUrl: z.string().optional(),
  listedSince: isoTime.nullable(),
  /** Share of the time since enrolment the device's tunnel was up, in percent; null until a day of history exists. */
  uptimePercent: z.number().min(0).max(100).nullable(),
  /** Reliability score over the last 30 days in percent (docs/reliability.md); null while the device is new. */
  reliabilityPercent: z.number().min(0).max(100).nullable(),
  rating: RatingSummary,
  /** What the server measured of the device, beside what it claims; null until a benchmark ran. */
  verified: HardwareVerification.nullable().optional(),
  /** Deployment packages the owner refuses on this device; the rest may be rented with it. */
  refusedPackages: z.array(z.string()).optional(),
  /**
   * A peer's device on this server's market: what the renter pays here per hour (the
   * price plus this server's fee) and each side's fee, shown before renting.
   */
  federationFees: z.object({ renterPricePerHourMicros: micros, feePercent: z.number(), homeFeePercent: z.number().nullable() }).optional(),
});
export type Listing = z.infer<typeof Listing>;

const queryInt = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * Lists come in pages (keyset paging: a page starts after the last item of the one
 * before). `limit` is how many items at most, up to the list's maximum; the reply's
 * `next`, when there are more, is the `cursor` that asks for the next page.
 */
export const Cursor = z.string().regex(/^[A-Za-z0-9_-]{1,400}$/, 'must be the "next" value of the page before');
const pageQuery = (max: number, def: number) => ({
  limit: z.coerce.number().int().min(1).max(max).default(def),
  cursor: Cursor.optional(),
});
/** The cursor of the next page, or null on the last one. */
export const Next = z.string().nullable();
export const pageLimits = { market: 500, rentals: 500, statement: 1000, admin: 500 } as const;
export const MarketQuery = z
  .object({
    sort: z.enum(['price', 'memory', 'cores', 'disk', 'reliability']).default('price'),
    order: z.enum(['asc', 'desc']).default('asc'),
    maxPriceMicros: queryInt.optional(),
    minMemoryBytes: queryInt.optional(),
    minCores: queryInt.optional(),
    minDiskBytes: queryInt.optional(),
    arch: z.string().max(40).optional(),
    /** Least reliability score in percent; new devices (no score yet) do not match. */
    minReliability: z.coerce.number().min(0).max(100).optional(),
    /** Only devices whose owner allows this deployment package. */
    package: AppPackageName.optional(),
    ...pageQuery(pageLimits.market, 100),
  })
  .strict();
export type MarketQuery = z.infer<typeof MarketQuery>;

export const RentalState = z.enum(['requested', 'active', 'ending', 'ended']);
export type RentalState = z.infer<typeof RentalState>;
export const EndReason = z.enum([
  'renter_stopped',
  'expired',
  'device_removed',
  'device_lost',
  'provisioning_failed',
  'balance_exhausted',
  'app_failed',
  /** Across servers: the renter's server stopped guaranteeing a pay-as-you-go rental (docs/federation.md). */
  'guarantee_expired',
]);
export type EndReason = z.infer<typeof EndReason>;

/** A renter's secret for their encrypted storage: a passphrase or a key file's text. */
export const StorageSecret = z.string().min(12, 'must be at least 12 characters').max(1024);

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
    /** With hours: when the term runs out, renew it for the same hours if the balance covers them. */
    autoRenew: z.boolean().optional(),
    /**
     * Encrypt the rental's storage with this secret (docs/encryption.md). The server keeps it in
     * memory only until the device has the storage unlocked, and never stores or logs it.
     */
    encryptionKey: StorageSecret.optional(),
    /** A deployment package to install and start in the container (docs/packages.md). */
    package: RentPackage.optional(),
  })
  .strict();

/** `POST /rentals/:id/unlock`: the secret the rental's storage was encrypted with. */
export const UnlockBody = z.object({ key: StorageSecret }).strict();

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

/** A running rental's address on a backup peer of its device's home server (docs/federation.md, "Backup peers and failover"). */
export const RentalFallback = z.object({
  server: z.string(),
  ssh: z.object({ host: z.string(), port: z.number().int() }),
  webHost: z.string(),
});
export type RentalFallback = z.infer<typeof RentalFallback>;

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
  /** The device's price when rented, and what the rental has cost so far (billed per minute while the device is up). */
  pricePerHourMicros: micros.nullable(),
  costMicros: micros,
  currency: z.string(),
  /** A prepaid term's hours (`rent --hours`), held at rent; null for pay-as-you-go. */
  prepaidHours: z.number().int().nullable(),
  /** A prepaid rental that renews itself for its first term when it runs out, while the balance covers it. */
  autoRenew: z.boolean().default(false),
  /**
   * What this rental gets (the offer it was rented with: cores, memory, disk, with the device's
   * CPU model and architecture), and whether the device's tunnel is up right now (a rental is
   * "down" while it is not).
   */
  deviceHardware: Hardware.nullable(),
  /** The rental's bandwidth cap each way in Mbit/s; null for none. */
  bandwidthMbit: z.number().nullable().optional(),
  deviceOnline: z.boolean(),
  connection: Connection,
  /** Whether the rental's storage is encrypted with the renter's secret (docs/encryption.md). */
  encrypted: z.boolean().optional(),
  /** While the encrypted storage waits for the renter's secret (after the device restarted), why; else null. */
  storageLocked: z.string().nullable().optional(),
  /** The deployment package rented with it, how far it got, and where it answers once healthy; null for none. */
  app: RentalApp.nullable().optional(),
  /** A peer's device rented through this server: the device's home server, which runs the rental. */
  homeServerUrl: z.string().optional(),
  /** Where the running rental answers while its device's home server is away: its backup peers (absent: none). */
  fallbacks: z.array(RentalFallback).max(8).optional(),
});
export type Rental = z.infer<typeof Rental>;

export const RentalsQuery = z.object({ all: z.enum(['true', 'false']).optional(), ...pageQuery(pageLimits.rentals, 100) }).strict();
export type RentalsQuery = z.infer<typeof RentalsQuery>;

export const ServerInfo = z.object({
  name: z.string(),
  /** ISO 4217 code of the currency prices are in; amounts are micro-units of it. */
  currency: z.string(),
  publicUrl: z.string(),
  version: z.string(),
  sshHost: z.string(),
  gatewayPort: z.number().int(),
  /** Renting pay-as-you-go needs a balance of this many hours of the device's price. */
  rentMinimumHours: z.number().int().optional(),
});
export type ServerInfo = z.infer<typeof ServerInfo>;

export const Empty = z.object({}).strict();
export const Ok = z.object({ ok: z.literal(true) });

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
  account: z.enum(['renter_balance', 'rental_hold', 'owner_earnings', 'payouts_pending']),
  kind: z.string(),
  memo: z.string(),
  rentalId: z.string().nullable(),
  amountMicros: micros,
});
export type StatementLine = z.infer<typeof StatementLine>;
/** The statement, oldest first unless order=desc. */
export const StatementQuery = z.object({ order: z.enum(['asc', 'desc']).default('asc'), ...pageQuery(pageLimits.statement, 500) }).strict();
export type StatementQuery = z.infer<typeof StatementQuery>;
export const Statement = z.object({ currency: z.string(), lines: z.array(StatementLine), next: Next });

export const CreditBody = z
  .object({
    email: Email,
    /** Positive grants credit; negative takes some back (never more than the balance). */
    amountMicros: micros.refine((n) => n !== 0, 'must not be zero'),
    memo: z.string().max(200).optional(),
  })
  .strict();
export const CreditResult = z.object({ email: z.string(), balanceMicros: micros });

export const Earnings = z.object({
  currency: z.string(),
  /** Earned, not yet paid out or requested: what a payout can ask for. */
  availableMicros: micros,
  pendingPayoutMicros: micros,
  paidOutMicros: micros,
  devices: z.array(z.object({ deviceId: id, deviceName: z.string(), rentals: z.number().int(), earnedMicros: micros })),
  /** Each rental of your devices: what the renter was charged, the marketplace's fee, and what you earned. */
  rentals: z.array(
    z.object({
      rentalId: id,
      deviceId: id,
      deviceName: z.string(),
      state: RentalState,
      createdAt: isoTime,
      endedAt: isoTime.nullable(),
      minutesBilled: z.number().int(),
      chargedMicros: micros,
      feeMicros: micros,
      earnedMicros: micros,
    }),
  ),
});
export type Earnings = z.infer<typeof Earnings>;

/** requested → processing (the operator is paying it; its owner can no longer cancel it) → paid; or cancelled before it is paid. */
export const PayoutState = z.enum(['requested', 'processing', 'paid', 'cancelled']);
export const Payout = z.object({
  id,
  email: z.string(),
  amountMicros: micros,
  currency: z.string(),
  state: PayoutState,
  /** Where the owner asked to be paid: a PayPal email, an account, an address. */
  destination: z.string(),
  rail: z.string().nullable(),
  reference: z.string().nullable(),
  requestedAt: isoTime,
  /** When the operator started paying it. */
  startedAt: isoTime.nullable(),
  settledAt: isoTime.nullable(),
});
export type Payout = z.infer<typeof Payout>;
export const Payouts = z.object({ payouts: z.array(Payout) });
export const PayoutBody = z
  .object({
    amountMicros: Micros.refine((n) => n > 0, 'must be more than 0'),
    destination: z.string().trim().min(3).max(200),
  })
  .strict();
export const PayoutParams = z.object({ payoutId: id }).strict();
export const PayoutsQuery = z.object({ state: PayoutState.optional() }).strict();
export const PayoutPaidBody = z
  .object({
    rail: z.string().regex(/^[a-z][a-z0-9-]{1,31}$/, 'must be a short lower-case name like paypal, bank or bitcoin'),
    reference: z.string().trim().min(1).max(200),
  })
  .strict();
export const LedgerTotals = z.object({
  currency: z.string(),
  accounts: z.array(z.object({ kind: z.string(), accounts: z.number().int(), balanceMicros: micros })),
  /** The sum over every account: zero, or the books are wrong. */
  totalMicros: micros,
});

/* Payment rails: how renters top up from outside (operator credit needs no outside service). */

/** A coin a chain rail credits, at the operator's rate: marketplace currency per 1 whole coin (an exact decimal). */
export const TopUpCoin = z.object({
  symbol: z.string(),
  /** Marketplace currency per whole coin, as the operator last set it. */
  rate: z.string(),
  decimals: z.number().int(),
  /** The token contract, for an ERC-20. */
  contract: z.string().optional(),
  /** When the operator set the rate (it is good for a limited time). */
  rateSetAt: isoTime.optional(),
  /** Why this coin is neither quoted nor credited now (a stale rate, or a jump the operator has not confirmed). */
  unavailable: z.string().optional(),
});
export type TopUpCoin = z.infer<typeof TopUpCoin>;
export const TopUpRail = z.discriminatedUnion('name', [
  z.object({ name: z.literal('operator') }),
  z.object({ name: z.literal('paypal'), currency: z.string() }),
  z.object({ name: z.literal('ethereum'), chainId: z.number().int(), confirmations: z.number().int(), coins: z.array(TopUpCoin) }),
  z.object({ name: z.literal('bitcoin'), network: z.string(), confirmations: z.number().int(), coins: z.array(TopUpCoin) }),
]);
export type TopUpRail = z.infer<typeof TopUpRail>;
export const TopUpRails = z.object({ currency: z.string(), rails: z.array(TopUpRail) });
export type TopUpRails = z.infer<typeof TopUpRails>;

export const PayPalTopUpBody = z.object({ amountMicros: Micros.refine((n) => n > 0, 'must be more than 0') }).strict();
export const PayPalTopUp = z.object({
  orderId: z.string(),
  /** Open this in a browser to pay at PayPal; PayPal then sends the browser back to the server, which credits the balance. */
  approveUrl: z.string(),
  amountMicros: Micros,
  currency: z.string(),
});
/** PayPal sends the payer back with `?token=ORDER_ID&PayerID=…`. */
export const PayPalReturnQuery = z
  .object({
    token: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a PayPal order ID'),
    PayerID: z
      .string()
      .regex(/^[A-Za-z0-9]{1,64}$/, 'must be a PayPal payer ID')
      .optional(),
  })
  .strict();
export const PayPalTopUpResult = z.object({
  status: z.enum(['credited', 'already_credited']),
  amountMicros: micros,
  currency: z.string(),
  reference: z.string(),
});
/** A PayPal webhook event; the rail verifies the raw body with PayPal before trusting any of it. */
export const PayPalWebhookBody = z
  .object({
    id: z.string().min(1).max(200),
    event_type: z.string().min(1).max(200),
    resource: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();
export const PayPalWebhookResult = z.object({
  status: z.enum(['credited', 'already_credited', 'reversed', 'already_reversed', 'ignored']),
});

export const DepositAddress = z.object({
  rail: z.enum(['ethereum', 'bitcoin']),
  /** Yours alone: anything sent here is credited to your balance. */
  address: z.string(),
  /** Ethereum's chain ID, or Bitcoin's network. */
  chain: z.string(),
  confirmations: z.number().int(),
  coins: z.array(TopUpCoin),
  /** Bitcoin: payments are looked for until then; paying later, ask for the address again first. */
  watchedUntil: isoTime.optional(),
});
export type DepositAddress = z.infer<typeof DepositAddress>;

export const ExchangeRateBody = z
  .object({
    /** ETH, BTC, or the configured token's symbol. */
    coin: z.string().min(1).max(12),
    /** Marketplace currency per one whole coin, a plain decimal like 3120.50. */
    rate: z.string().regex(/^\d{1,30}(\.\d{1,30})?$/, 'must be a plain decimal like 3120.50'),
  })
  .strict();
export const ExchangeRate = z.object({
  coin: z.string(),
  rate: z.string(),
  /** Whether the rails quote and credit at it now; if not, why. */
  usable: z.boolean(),
  unavailable: z.string().optional(),
});

/* The dashboard: browser sessions, API tokens, saved SSH keys, the operator's lists. */

export const SessionBody = z.object({ email: Email, password: Password, signup: z.boolean().optional() }).strict();
/** A browser session: the session itself is an HttpOnly cookie; the page sends csrfToken in X-CSRF-Token on every change. */
export const BrowserSession = z.object({ user: User, csrfToken: z.string() });
export type BrowserSession = z.infer<typeof BrowserSession>;
export const PasswordChangeBody = z.object({ currentPassword: z.string().min(1).max(256), newPassword: Password }).strict();

export const ApiTokenInfo = z.object({ id, name: z.string(), createdAt: isoTime, current: z.boolean() });
export const ApiTokens = z.object({ tokens: z.array(ApiTokenInfo) });
export const ApiTokenBody = z.object({ name: z.string().trim().min(1, 'must not be empty').max(80) }).strict();
/** The token itself is shown once, here. */
export const CreatedApiToken = z.object({ id, name: z.string(), token: z.string(), createdAt: isoTime });
export const TokenParams = z.object({ tokenId: id }).strict();
/** A browser session (the dashboard logged in somewhere): which browser, when, and when it ends (30 days, or a week unused). */
export const SessionInfo = z.object({
  id,
  name: z.string(),
  createdAt: isoTime,
  lastUsedAt: isoTime.nullable(),
  expiresAt: isoTime,
  current: z.boolean(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;
export const Sessions = z.object({ sessions: z.array(SessionInfo) });
export const SessionParams = z.object({ sessionId: id }).strict();
/** The token from the link in the verification mail. */
export const VerifyEmailBody = z
  .object({ token: z.string().regex(/^p2pv_[A-Za-z0-9_-]{43}$/, 'must be the token from the link in the mail') })
  .strict();
export const VerifiedEmail = z.object({ email: z.string() });

export const SavedSshKey = z.object({ id, name: z.string(), publicKey: z.string(), fingerprint: z.string(), createdAt: isoTime });
export type SavedSshKey = z.infer<typeof SavedSshKey>;
export const SavedSshKeys = z.object({ keys: z.array(SavedSshKey) });
export const SshKeyBody = z.object({ name: z.string().trim().min(1, 'must not be empty').max(80), publicKey: SshPublicKey }).strict();
export const SshKeyParams = z.object({ keyId: id }).strict();

/** Hours to add, and/or auto-renewal on or off: at least one of them. */
export const ExtendBody = z
  .object({
    hours: z
      .number()
      .int()
      .min(1)
      .max(24 * 366)
      .optional(),
    autoRenew: z.boolean().optional(),
  })
  .strict();

export const AdminUser = z.object({
  id,
  email: z.string(),
  isAdmin: z.boolean(),
  createdAt: isoTime,
  balanceMicros: micros,
  earningsMicros: micros,
  devices: z.number().int(),
  openRentals: z.number().int(),
});
export const AdminListQuery = z.object(pageQuery(pageLimits.admin, 100)).strict();
export type AdminListQuery = z.infer<typeof AdminListQuery>;
export const AdminUsers = z.object({ users: z.array(AdminUser), next: Next });
export const AdminDevice = Device.extend({ ownerEmail: z.string() });
export const AdminDevices = z.object({ devices: z.array(AdminDevice), next: Next });
export const AdminRental = Rental.omit({ connection: true }).extend({ renterEmail: z.string(), ownerEmail: z.string() });
export const AdminRentals = z.object({ rentals: z.array(AdminRental) });
export const ServerSettings = z.object({
  name: z.string(),
  publicUrl: z.string(),
  currency: z.string(),
  feePercent: z.number(),
  rentMinimumHours: z.number(),
  balanceGraceMinutes: z.number(),
  deviceLostGraceMinutes: z.number(),
  sshHost: z.string(),
  sshPortRange: z.tuple([z.number().int(), z.number().int()]),
  webDomain: z.string(),
  rails: z.array(z.string()),
  mail: z.string(),
});

/* Mail: the account's mail settings, and the operator's view of the mail the server sent. */

export const AccountSettings = z.object({
  /** Put a rental's password in the mail that says it is ready (off: the mail links to the dashboard instead). */
  emailRentalPassword: z.boolean(),
});
export type AccountSettings = z.infer<typeof AccountSettings>;
export const UpdateSettingsBody = z.object({ emailRentalPassword: z.boolean().optional() }).strict();

export const MailState = z.enum(['queued', 'sent', 'outbox', 'failed']);
export const OutboxQuery = z
  .object({
    state: MailState.optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();
export const OutboxMail = z.object({
  id,
  kind: z.string(),
  to: z.string(),
  subject: z.string(),
  /** The plain-text body; empty once SMTP has taken the mail (it may have held a password). */
  text: z.string(),
  state: MailState,
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  createdAt: isoTime,
  sentAt: isoTime.nullable(),
});
export type OutboxMail = z.infer<typeof OutboxMail>;
export const Outbox = z.object({
  /** `smtp`: mails go out through the SMTP server; `outbox`: none is configured and they stay here. */
  delivery: z.enum(['smtp', 'outbox']),
  mails: z.array(OutboxMail),
});
export type Outbox = z.infer<typeof Outbox>;
