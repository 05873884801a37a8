import type { ColumnType, Generated } from 'kysely';

/**
 * Table types for Kysely. Timestamps are ISO-8601 text and flags are 0/1 integers so the
 * same queries run on SQLite and PostgreSQL.
 */
export interface UsersTable {
  id: string;
  email: string;
  password_hash: string;
  is_admin: number;
  created_at: string;
  /**
   * 1 when the user chose to get their rentals' passwords by email; 0, the default, gets a
   * link to the dashboard instead. Optional so that inserts may leave it to the default.
   */
  email_rental_password?: number;
  /** When the user opened the verification link mailed to their address; null until then (no notices go there). */
  email_verified_at?: string | null;
  /** The pending verification link's token (hashed) and when it was sent (it lasts a day). */
  email_verify_token_hash?: string | null;
  email_verify_sent_at?: string | null;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  token_hash: string;
  name: string;
  /** `api` (made by login or by the user, shown in the account) or `session` (a browser's, in an HttpOnly cookie). */
  kind: 'api' | 'session';
  /** Sessions expire; API tokens last until revoked. */
  expires_at: string | null;
  created_at: string;
  last_used_at: string | null;
}

export interface SshKeysTable {
  id: string;
  user_id: string;
  name: string;
  public_key: string;
  created_at: string;
}

export interface DevicesTable {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  public_key: string | null;
  hardware: string | null;
  /** Unique; NULL once the device is removed, which releases the port. */
  ssh_port: number | null;
  /** Unique: the label of the device's public web name, `web_name.web-domain`. */
  web_name: string;
  price_per_hour_micros: number | null;
  on_market: number;
  online: number;
  enrolled_at: string | null;
  last_heartbeat_at: string | null;
  last_seen_at: string | null;
  listed_since: string | null;
  created_at: string;
  removed_at: string | null;
  /** Why the device's renter storage cannot be used (its agent says); while set the device is not listed. */
  storage_fault: string | null;
  /** While the device's encrypted rental is locked (restarted, waiting for its renter's secret), why; null otherwise. Optional so inserts may leave it out. */
  storage_locked?: string | null;
  /** Uptime: since when the tunnel is up (null while down), how long it was up before, since when it is tracked. */
  online_since: string | null;
  online_ms: bigint | number | string;
  uptime_tracked_since: string | null;
  /**
   * The highest signature timestamp (unix ms) accepted from the device; requests must sign a
   * newer one (routes/authenticate.ts). Optional so that inserts may leave it NULL.
   */
  last_signed_ts?: number | null;
  /** The owner's offer (JSON Offer: what one rental gets); NULL for the default. Optional so that inserts may leave it NULL. */
  offer?: string | null;
  /** Deployment packages its owner refuses on it (JSON array of names); NULL for none. */
  refused_packages?: string | null;
  /** Reliability score over the last 30 days in percent, refreshed by the reliability worker; null while new. Optional for inserts. */
  reliability_percent?: number | null;
  /** Why the last benchmark did not bear out the device's claims (domain/devices/benchmarks.ts); while set it is not listed. */
  hardware_flag?: string | null;
  /** The last benchmark's verdict, a HardwareVerification as JSON; null until one ran. */
  hardware_verification?: string | null;
}

/** A benchmark challenge issued to a device, and its answer once the device posted it. */
export interface HardwareBenchmarksTable {
  nonce: string;
  device_id: string;
  issued_at: string;
  expires_at: string;
  answered_at: string | null;
  figures: string | null;
  signature: string | null;
  verification: string | null;
}

export interface EnrolmentTokensTable {
  id: string;
  device_id: string;
  token_hash: string;
  expires_at: string;
  spent_at: string | null;
  created_at: string;
}

export interface RentalsTable {
  id: string;
  device_id: string;
  device_name: string;
  renter_id: string;
  state: string;
  end_reason: string | null;
  detail: string | null;
  username: string;
  /** The renter's password sealed with the data dir's key (secret-box.ts); '' once the rental has ended. */
  password_sealed: string;
  /** The password's `$6$` crypt(3) hash: all the device is given. */
  password_crypt: string;
  /** 1: a prepaid rental renews itself for `term_hours` when its term ends, if the balance covers it. */
  auto_renew: number;
  /** The prepaid term one renewal adds (what was first rented); null for pay-as-you-go. */
  term_hours: number | null;
  ssh_public_key: string | null;
  hours: number | null;
  /** Equals device_id while the rental is open, NULL after: its unique index lets only one rental hold a device. */
  open_device_id: string | null;
  created_at: string;
  activated_at: string | null;
  expires_at: string | null;
  ended_at: string | null;
  /** Bytes visitors sent to the rental's container (SSH, HTTP, HTTPS), and bytes it sent back. */
  bytes_in: number;
  bytes_out: number;
  /** Metering: whole minutes billed, what was collected for them (less when the balance ran out) and its fee, and up to when. */
  billed_minutes: number;
  charged_micros: bigint | number | string;
  fee_micros: bigint | number | string;
  billed_until: string | null;
  /** The device's price and the marketplace fee when the rental was made. */
  price_per_hour_micros: bigint | number | string | null;
  fee_bps: number | null;
  /** When the renter's balance first ran out during this rental; cleared on a top-up. */
  balance_exhausted_at: string | null;
  /** Since when the meter has seen the device offline during this rental (null while online). */
  offline_since: string | null;
  /** When the renter was warned that their balance covers less than `lowBalanceMinutes` of their rentals (cleared on a top-up). */
  balance_low_at: string | null;
  /** The offer (JSON) the rental was rented with: what its container gets. Optional so that inserts may leave it NULL. */
  offer?: string | null;
  /** 1: the renter's storage is encrypted with their secret (never stored). Optional so inserts may leave it at 0. */
  encrypted?: number;
  /** The deployment package rented with it (JSON DesiredApp: recipe and settings); NULL for none. */
  app?: string | null;
  /** How far the agent got with it (AppState) and the end of its log, as the last heartbeat said. */
  app_state?: string | null;
  app_log?: string | null;
  /** At the device's server: the peer that rented it for one of its renters, and its request ID (docs/federation.md). */
  origin_peer_id?: string | null;
  origin_request_id?: string | null;
  /** Until when the peer guarantees a pay-as-you-go rental's minutes; past it, the rental ends. */
  guarantee_until?: string | null;
  /** The last state change the peer acknowledged: its seq, and the state. */
  origin_state_seq?: number;
  origin_state_sent?: string | null;
}

export interface LedgerAccountsTable {
  id: string;
  kind: string;
  user_id: string | null;
  rail: string | null;
  key: string;
  /** Set on a prepaid term's hold account: the rental it belongs to. */
  rental_id: string | null;
  /** The sum of the account's entries, kept up to date by every posting. */
  balance: bigint | number | string;
  created_at: string;
}

export interface LedgerTransactionsTable {
  id: string;
  kind: string;
  external_key: string | null;
  rental_id: string | null;
  memo: string;
  created_at: string;
}

export interface LedgerEntriesTable {
  id: string;
  transaction_id: string;
  account_id: string;
  /** Signed micro-units; a transaction's entries sum to zero. */
  amount: bigint | number | string;
  created_at: string;
}

export interface PayoutsTable {
  id: string;
  user_id: string;
  amount_micros: bigint | number | string;
  state: 'requested' | 'processing' | 'paid' | 'cancelled';
  destination: string;
  rail: string | null;
  reference: string | null;
  requested_at: string;
  /** When the operator claimed it to pay it (state processing); from then on its owner cannot cancel it. */
  started_at: string | null;
  settled_at: string | null;
}

/** A renter's deposit address on a chain rail: derivation index `derivation_index` of the operator's key. */
export interface DepositAddressesTable {
  rail: string;
  derivation_index: number;
  user_id: string;
  address: string;
  created_at: string;
  /** When the renter last asked to top up to it; the Bitcoin scanner watches recent ones only. */
  requested_at: string | null;
}

/** How far a chain watcher has scanned (the last block number or height it finished). */
export interface RailCursorsTable {
  rail: string;
  position: bigint | number | string;
  updated_at: string;
  /** JSON [[number, hash], …] of the last blocks scanned, oldest first: how a reorg is noticed. */
  recent_blocks: string | null;
}

/** An exchange rate the operator set for a chain rail's coin. */
export interface ExchangeRatesTable {
  coin: string;
  rate: string;
  set_at: string;
  previous_rate: string | null;
}

/** A notice to a user, queued until the transport takes it; see the mail migration. */
export interface MailMessagesTable {
  id: string;
  dedup_key: string | null;
  kind: string;
  user_id: string | null;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string;
  state: 'queued' | 'sent' | 'outbox' | 'failed';
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
}

/** One device's UTC day of reliability figures (docs/reliability.md); times in milliseconds. */
export interface DeviceReliabilityDaysTable {
  device_id: string;
  day: string;
  expected_ms: bigint | number | string;
  online_ms: bigint | number | string;
  maintenance_ms: bigint | number | string;
  failed_starts: number;
  lost_rentals: number;
}

/** A failed container start or a lost rental, one row each. */
export interface DeviceIncidentsTable {
  id: string;
  device_id: string;
  rental_id: string | null;
  kind: 'failed_start' | 'lost_rental';
  detail: string | null;
  at: string;
}

/** A maintenance window its owner declared ahead for a device. */
export interface MaintenanceWindowsTable {
  id: string;
  device_id: string;
  starts_at: string;
  ends_at: string;
  created_at: string;
  cancelled_at: string | null;
}

/** A renter's rating of one rental they ran, and the device owner's one answer (see the reviews migration). */
export interface ReviewsTable {
  id: string;
  rental_id: string;
  device_id: string;
  renter_id: string;
  stars: number;
  comment: string;
  created_at: string;
  answer: string | null;
  answered_at: string | null;
}

/** A renter's complaint about one rental, and how the operator settled it. */
export interface DisputesTable {
  id: string;
  rental_id: string;
  renter_id: string;
  reason: string;
  state: 'open' | 'refunded' | 'rejected';
  opened_at: string;
  resolved_at: string | null;
  refund_micros: bigint | number | string;
  /** The part of the refund taken from the owner's earnings (the rest the marketplace bore). */
  owner_refund_micros: bigint | number | string;
  note: string | null;
}

/** Who holds a cluster-wide lease (db/leases-repo.ts), until when, under which fencing token. */
export interface ClusterLeasesTable {
  name: string;
  holder_node: string;
  fencing_token: bigint | number | string;
  acquired_at: string;
  expires_at: string;
}

/** Something the server saw happen to a rental (domain/rentals/rental-log.ts names the kinds). */
export interface RentalEventsTable {
  id: string;
  rental_id: string;
  at: string;
  kind: string;
  detail: string | null;
}

/** A server node of a cluster on one database (cluster/node-registry.ts). */
export interface ClusterNodesTable {
  id: string;
  /** Where other nodes reach its node-to-node link; null when it has none (a single node). */
  link_host: string | null;
  link_port: number | null;
  started_at: string;
  /** Refreshed every few seconds; a node whose heartbeat is stale is dead. */
  heartbeat_at: string;
  /** Set at a clean shutdown. */
  stopped_at: string | null;
}

/** Which node holds a device's reverse tunnel now (cluster/tunnel-locator.ts). */
export interface TunnelHoldersTable {
  device_id: string;
  node_id: string;
  since: string;
}

/** A linked peer server (federation/peers.ts), pinned by its signing key's fingerprint. */
export interface FederationPeersTable {
  id: string;
  /** Its base URL (an origin), as it names itself in its requests. */
  url: string;
  name: string;
  fingerprint: string;
  /** The pinned key, raw Ed25519, base64url. */
  public_key: string;
  state: 'active' | 'suspended';
  fee_bps: number | null;
  linked_at: string;
  updated_at: string;
  last_sync_at: string | null;
  last_error: string | null;
  /** What this peer may owe us at most before its new rentals are refused; null: no limit. */
  credit_limit_micros?: bigint | number | string | null;
  /** Since when it owes more than that limit (its new rentals refused); null while it does not. */
  over_limit_at?: string | null;
}

/** At the renter's server: a rental of a peer's device, run by its home server (docs/federation.md). */
export interface RemoteRentalsTable {
  /** Ours, and the offer's requestId. */
  id: string;
  renter_id: string;
  peer_id: string;
  remote_rental_id: string | null;
  device_id: string;
  device_name: string;
  /** offered (sent, unanswered), requested, active, ending, ended, failed (never made). */
  state: string;
  end_reason: string | null;
  detail: string | null;
  price_per_hour_micros: bigint | number | string;
  /** Our fee on top of the price, in basis points. */
  fee_bps: number;
  hours: number | null;
  username: string;
  password_sealed: string;
  ssh_public_key: string | null;
  ssh_host: string;
  ssh_port: number;
  web_host: string;
  /** The rental's web addresses at the home server's front doors, as it gave them. */
  http_url: string;
  https_url: string;
  offer_json: string;
  /** The last state message taken from the home server. */
  state_seq: number;
  billed_minutes: number;
  /** What the renter was charged so far, our fee included. */
  charged_micros: bigint | number | string;
  guarantee_until: string | null;
  /** The backups the home server's signed listing named when the rental was made (JSON array of URLs), or null. */
  backups_json: string | null;
  /** Where a backup serves the rental now (docs/federation.md, "The join"), or null: at the home server. */
  moved_json: string | null;
  /** When the renter (or their money) ended it here, until the home server confirms. */
  end_requested: string | null;
  created_at: string;
  activated_at: string | null;
  ended_at: string | null;
}

/** A statement as signed: `issued` by us to a peer that owes us, or `received` from a peer we owe; with its ack or why it was refused. */
export interface FederationStatementsTable {
  hash: string;
  peer_id: string;
  direction: 'issued' | 'received';
  statement_json: string;
  closing_micros: bigint | number | string;
  period_to: string;
  /** sent (no answer yet), acknowledged, refused. */
  state: string;
  ack_json: string | null;
  problem: string | null;
  created_at: string;
}

/** A settlement as signed: `sent` by us to a peer we paid, or `received` from a peer that paid us; with its receipt. */
export interface FederationSettlementsTable {
  settlement_id: string;
  peer_id: string;
  direction: 'sent' | 'received';
  settlement_json: string;
  amount_micros: bigint | number | string;
  receipt_json: string | null;
  receipt_hash: string | null;
  created_at: string;
}

/** A signed usage report and its signed ack, at both servers; `rental_id` is the home server's. */
export interface FederationUsageTable {
  peer_id: string;
  rental_id: string;
  seq: number;
  report_json: string;
  report_hash: string;
  amount_micros: bigint | number | string;
  ack_json: string | null;
  created_at: string;
}

/** A nonce of a signed peer request, remembered until its signature could no longer be accepted (replays). */
export interface FederationNoncesTable {
  peer_id: string;
  nonce: string;
  expires_at: string;
}

/** A listing a peer published: the signed JSON it sent. */
export interface PeerListingsTable {
  peer_id: string;
  device_id: string;
  listing_json: string;
  received_at: string;
}

/** The server's federation key, one row shared by every node (federation/shared-key.ts). */
export interface FederationServerKeyTable {
  id: string;
  /** The key file's JSON (federation/server-key.ts), sealed with the secret box. */
  sealed_key: string;
  /** Raised by each rotation; a rotation writes only over the version it read. */
  version: number;
  updated_at: string;
}

export interface Database {
  users: UsersTable;
  api_tokens: ApiTokensTable;
  ssh_keys: SshKeysTable;
  devices: DevicesTable;
  enrolment_tokens: EnrolmentTokensTable;
  rentals: RentalsTable;
  ledger_accounts: LedgerAccountsTable;
  ledger_transactions: LedgerTransactionsTable;
  ledger_entries: LedgerEntriesTable;
  payouts: PayoutsTable;
  deposit_addresses: DepositAddressesTable;
  rail_cursors: RailCursorsTable;
  exchange_rates: ExchangeRatesTable;
  mail_messages: MailMessagesTable;
  device_reliability_days: DeviceReliabilityDaysTable;
  device_incidents: DeviceIncidentsTable;
  maintenance_windows: MaintenanceWindowsTable;
  reviews: ReviewsTable;
  disputes: DisputesTable;
  rental_events: RentalEventsTable;
  hardware_benchmarks: HardwareBenchmarksTable;
  cluster_leases: ClusterLeasesTable;
  cluster_nodes: ClusterNodesTable;
  tunnel_holders: TunnelHoldersTable;
  federation_peers: FederationPeersTable;
  federation_nonces: FederationNoncesTable;
  peer_listings: PeerListingsTable;
  federation_server_key: FederationServerKeyTable;
  remote_rentals: RemoteRentalsTable;
  federation_usage: FederationUsageTable;
  federation_statements: FederationStatementsTable;
  federation_settlements: FederationSettlementsTable;
  federation_backup_homes: FederationBackupHomesTable;
  federation_backup_devices: FederationBackupDevicesTable;
  federation_backup_service: FederationBackupServiceTable;
  federation_backup_agreements: FederationBackupAgreementsTable;
  federation_backup_handbacks: FederationBackupHandbacksTable;
}

/** On a backup server: a peer whose devices we agreed to back up (docs/federation.md). */
export interface FederationBackupHomesTable {
  peer_id: string;
  max_devices: number;
  fee_bps: number;
  granted_at: string;
}

/** On a backup server: a device in its home's last snapshot, with the public SSH port we serve it on. */
export interface FederationBackupDevicesTable {
  device_id: string;
  home_peer_id: string;
  agent_public_key: string;
  ssh_port: number;
  web_name: string;
  /** Its running rental as the home sent it (BackupRental), or null. */
  rental_json: string | null;
  updated_at: string;
}

/** On a backup server: a stretch we served a home's rental (its tunnel was up here); handed back once the home acknowledged it. */
export interface FederationBackupServiceTable {
  id: string;
  home_peer_id: string;
  device_id: string;
  rental_id: string;
  started_at: string;
  ended_at: string | null;
  minutes: number;
  handed_back_at: string | null;
  /** What the home recorded for it, from its reply. */
  amount_micros: string | null;
  fee_micros: string | null;
}

/** On a home server: the agreement a backup peer signed, and where it serves each of our devices. */
export interface FederationBackupAgreementsTable {
  peer_id: string;
  agreement_json: string;
  valid_until: string;
  /** BackupAssignment[] from the peer's last snapshot reply. */
  assignments_json: string;
  updated_at: string;
}

/** On a home server: a stretch a backup peer served one of our rentals, as it handed it back (signed), and what we owe it. */
export interface FederationBackupHandbacksTable {
  peer_id: string;
  service_id: string;
  device_id: string;
  rental_id: string;
  started_at: string;
  ended_at: string;
  minutes: number;
  amount_micros: string;
  fee_bps: number;
  fee_micros: string;
  handback_json: string;
  received_at: string;
  /** The seq of the usage report to the renter's server that carried these minutes (a peer's renter only). */
  carried_seq: number | null;
}

// Re-exported for migrations that need column helpers.
export type { ColumnType, Generated };
