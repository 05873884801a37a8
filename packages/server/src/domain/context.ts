import type { DesiredRental } from '@p2pvps/protocol/agent-schemas';
import type { AppCatalogue } from './packages/app-packages.ts';
import type { Db } from '../db/database.ts';
import type { SecretBox } from '../secret-box.ts';
import type { Clock } from './clock.ts';
import type { StorageSecrets } from './rentals/storage-secrets.ts';
import type { RemoteRentalPort } from './federation/remote-rental-port.ts';

/** What domain functions need from the outside world, injected once at start. */
export interface DomainContext {
  db: Db;
  /** The deployment packages renters may rent with a device (services/app-catalogue.ts); absent, none. */
  appCatalogue?: AppCatalogue;
  clock: Clock;
  /** Seals secrets the server must give back (rental passwords) under the data dir's key. */
  secretBox: SecretBox;
  settings: {
    serverName: string;
    publicUrl: string;
    /** The cluster's nodes' own names (their API URLs' hosts), which lead to the API like the public URL's. */
    nodeHostNames?: readonly string[];
    currency: string;
    sshHost: string;
    sshPortRange: readonly [number, number];
    /** Devices are reachable on the web as `WEBNAME.webDomain` through the front doors on these ports. */
    webDomain: string;
    httpPort: number;
    httpsPort: number;
    heartbeatIntervalMs: number;
    /** The marketplace's share of each charge, in basis points (10% = 1000). */
    feeBps: number;
    /** A renter needs a balance of at least this many hours of a device's price to rent it. */
    rentMinimumHours: number;
    /** How long a rental runs on after its renter's balance is used up before it ends. */
    balanceGraceMs: number;
    /** How long an active rental's device may be offline before the rental ends as `device_lost`. */
    deviceLostGraceMs: number;
    enrolmentTokenTtlMs: number;
    /** Devices an owner may have awaiting their first enrolment at once (5 unless set). */
    maxPendingDevices?: number;
    /** scrypt's cost for passwords; unset, the production cost (secrets.ts). Tests set a cheap one. */
    passwordCost?: { log2N: number; r: number; p: number };
    /** Verified hardware (domain/devices/benchmarks.ts); unset, no device is benchmarked. */
    benchmark?: { intervalMs: number; tolerancePercent: number; memoryProbeMaxBytes: number; challengeTtlMs: number };
  };
  /** Tells a renter something about their money (the server mails it: domain/mail/notices.ts). */
  notifyUser?(userId: string, event: 'balance_low' | 'balance_exhausted', rentalId: string): void;
  /** Tells a renter their rental is ready to log in to, or has ended (mailed like notifyUser). Must not block. */
  notifyRental?(rentalId: string, event: 'active' | 'ended'): void;
  /** A mail was queued: deliver it soon rather than at the next poll. */
  mailQueued?(): void;
  /** Renters' secrets for encrypted storage, in memory only, on their way to the device. Unset: renting encrypted is refused. */
  storageSecrets?: StorageSecrets;
  /** Peers' devices rented through this server (set by federation/federation-service.ts); unset, none can be. */
  remoteRentals?: RemoteRentalPort;
  /**
   * Tells a device's agent to sync now (rental started or ended); a new rental comes with
   * the nudge, as the next heartbeat would give it, so the agent need not wait for that.
   */
  notifyDevice(deviceId: string, reason: string, rental?: DesiredRental): void;
  /** The tunnel gateway's view: whether a device's tunnel is up, and how to cut it. */
  tunnels: {
    isOnline(deviceId: string): boolean;
    disconnect(deviceId: string): void;
    /** Times bytes the device sends through its tunnel for a benchmark challenge; Mbit/s, or null if it could not. */
    measureThroughput?(deviceId: string, nonce: string): Promise<number | null>;
  };
}
