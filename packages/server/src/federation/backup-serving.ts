import {
  BackupRequest,
  BackupHandbackReply,
  BackupSnapshot,
  federationHandbackPath,
  type BackupAgreement,
  type BackupAssignment,
  type BackupGateway,
  type BackupRental,
  type BackupSnapshotReply,
} from '@p2pvps/protocol/federation-backup-schemas';
import type { Db } from '../db/database.ts';
import { usedPorts } from '../db/devices-repo.ts';
import { findPeer, listPeers, type PeerRow } from '../db/federation-repo.ts';
import {
  closeService,
  findBackupDevice,
  findBackupDeviceByWebName,
  findBackupHome,
  findOpenService,
  grantBackup,
  listBackupDevices,
  listService,
  markHandedBack,
  openService,
  replaceBackupDevices,
  revokeBackup,
  type BackupDeviceRow,
} from '../db/federation-backups-repo.ts';
import type { Clock } from '../domain/clock.ts';
import { DomainError } from '../domain/errors.ts';
import { newId } from '../domain/secrets.ts';
import { describeReply, type FederationClient } from './federation-client.ts';
import { MovedSender } from './moved-sender.ts';
import { backupFeePosting, signAgreement, signHandback, type Signer } from './backup-signatures.ts';
import { inTransaction } from '../db/transactions.ts';
import { postMany } from '../domain/money/ledger.ts';

/** How long an agreement holds; the home asks again when half of it is gone. */
export const agreementValidityMs = 24 * 60 * 60_000;
/** Devices one home may put on us unless its operator's grant says less. */
const defaultMaxDevices = 1000;
/** The backup fee, in basis points of what the minutes served are worth, unless configured (--federation-backup-fee-bps). */
export const defaultBackupFeeBps = 1000;

export interface BackupServingOptions {
  db: Db;
  clock: Clock;
  client: FederationClient;
  signer: () => Signer;
  ownUrl: string;
  webDomain: string;
  /** Our public SSH ports: a backed-up device gets one from the top down (local devices take them from the bottom). */
  portRange: readonly [number, number];
  /** What an agreement states as our fee (basis points of the minutes served); defaultBackupFeeBps if not given. */
  feeBps?: number;
  /** Where renters reach us (--ssh-host, --http-port), for a peer's renter's server (docs/federation.md, "The join"). */
  publicAddress?: () => { sshHost: string; httpPort: number };
  /** Our gateway as devices reach it, with its host key. */
  gateway: () => BackupGateway;
  /** A backed-up device's rental started or ended: open or close its public port at once. */
  deviceChanged(deviceId: string): void;
  log: { warn(fields: object, message: string): void };
}

/**
 * The backup side of "Backup peers and failover" (docs/federation.md): the peers whose
 * devices our operator agreed to back up, the devices each one's last snapshot names
 * (only those our gateway admits), the stretches we serve their running rentals, and
 * handing those back, signed, once the home answers again.
 */
export class BackupServing {
  private readonly moved: MovedSender;

  constructor(private readonly o: BackupServingOptions) {
    this.moved = new MovedSender(o);
  }

  /** Sends again the moves a peer's renter's server has not acknowledged, with backoff (MovedSender). */
  retryMoved(): Promise<void> {
    return this.moved.retry();
  }

  /** The operator's switch for a peer; turning it off forgets the peer's devices at once. */
  async allow(peerId: string, allow: boolean): Promise<void> {
    if (!(await findPeer(this.o.db, peerId))) throw new DomainError('not_found');
    if (allow)
      await grantBackup(this.o.db, {
        peer_id: peerId,
        max_devices: defaultMaxDevices,
        fee_bps: this.o.feeBps ?? defaultBackupFeeBps,
        granted_at: this.o.clock.now().toISOString(),
      });
    else {
      const gone = (await listBackupDevices(this.o.db)).filter((d) => d.home_peer_id === peerId);
      await revokeBackup(this.o.db, peerId);
      for (const d of gone) this.o.deviceChanged(d.device_id);
    }
  }

  /** A home asks us to back it up: a signed agreement if our operator allowed it. */
  async answerRequest(peer: PeerRow, body: unknown): Promise<BackupAgreement> {
    const parsed = BackupRequest.safeParse(body);
    if (!parsed.success) throw new DomainError('invalid_request', 'The body must be {"maxDevices": N}.');
    const grant = await findBackupHome(this.o.db, peer.id);
    if (!grant) throw new DomainError('federation_not_backup', `${this.o.ownUrl}'s operator has not agreed to back up ${peer.url}.`);
    return signAgreement(
      {
        home: peer.url,
        gateway: this.o.gateway(),
        webDomain: this.o.webDomain,
        backupFeeBps: grant.fee_bps,
        maxDevices: Math.min(parsed.data.maxDevices, grant.max_devices),
        validUntil: new Date(this.o.clock.now().getTime() + agreementValidityMs).toISOString(),
      },
      this.o.signer(),
    );
  }

  /** A home's snapshot of its backed-up devices: stored in place of the last, each device given (or keeping) a port here. */
  async receiveSnapshot(peer: PeerRow, body: unknown): Promise<BackupSnapshotReply> {
    const parsed = BackupSnapshot.safeParse(body);
    if (!parsed.success)
      throw new DomainError(
        'invalid_request',
        `The backup snapshot is malformed: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}.`,
      );
    const grant = await findBackupHome(this.o.db, peer.id);
    if (!grant) throw new DomainError('federation_not_backup', `${this.o.ownUrl}'s operator has not agreed to back up ${peer.url}.`);
    const devices = parsed.data.devices.slice(0, grant.max_devices);
    const all = await listBackupDevices(this.o.db);
    const mine = new Map(all.filter((d) => d.home_peer_id === peer.id).map((d) => [d.device_id, d]));
    // Another home cannot take over a device we back up for its own home.
    const othersIds = new Set(all.filter((d) => d.home_peer_id !== peer.id).map((d) => d.device_id));
    const taken = new Set([
      ...all.filter((d) => d.home_peer_id !== peer.id).map((d) => d.ssh_port),
      ...(await usedPorts(this.o.db, this.o.portRange)),
    ]);
    const now = this.o.clock.now().toISOString();
    const rows: BackupDeviceRow[] = [];
    let next = this.o.portRange[1];
    for (const d of devices) {
      if (othersIds.has(d.deviceId)) continue;
      let port = mine.get(d.deviceId)?.ssh_port;
      if (port === undefined || taken.has(port)) {
        while (next >= this.o.portRange[0] && (taken.has(next) || [...mine.values()].some((m) => m.ssh_port === next))) next--;
        if (next < this.o.portRange[0]) break;
        port = next--;
      }
      taken.add(port);
      rows.push({
        device_id: d.deviceId,
        home_peer_id: peer.id,
        agent_public_key: d.agentPublicKey,
        ssh_port: port,
        web_name: d.webName,
        rental_json: d.rental ? JSON.stringify(d.rental) : null,
        updated_at: now,
      });
    }
    await replaceBackupDevices(this.o.db, peer.id, rows);
    for (const r of rows) if (mine.get(r.device_id)?.rental_json !== r.rental_json) this.o.deviceChanged(r.device_id);
    for (const id of mine.keys()) if (!rows.some((r) => r.device_id === id)) this.o.deviceChanged(id);
    return { accepted: rows.length, devices: rows.map((r) => this.assignment(r)) };
  }

  private assignment(r: BackupDeviceRow): BackupAssignment {
    return { deviceId: r.device_id, sshPort: r.ssh_port, webHost: `${r.web_name}.${this.o.webDomain}` };
  }

  private async current(deviceId: string): Promise<{ row: BackupDeviceRow; rental: BackupRental | null } | null> {
    const row = await findBackupDevice(this.o.db, deviceId);
    if (!row || !(await findBackupHome(this.o.db, row.home_peer_id))) return null;
    const rental = row.rental_json ? (JSON.parse(row.rental_json) as BackupRental) : null;
    // A rental past its end is not served here: its home decides about renewals, not us.
    const running = rental && (rental.expiresAt === null || Date.parse(rental.expiresAt) > this.o.clock.now().getTime()) ? rental : null;
    return { row, rental: running };
  }

  /** The gateway's policy for a device that is not ours: only one its home's last snapshot names, with its own key. */
  async tunnelPolicy(deviceId: string) {
    const c = await this.current(deviceId);
    if (!c) return null;
    return {
      deviceId,
      publicKey: c.row.agent_public_key,
      sshPort: c.row.ssh_port,
      publicPortOpen: c.rental !== null,
      rentalId: c.rental?.rentalId ?? null,
    };
  }

  /** Where `label` under our web domain leads when no device of ours has it: a backed-up device's running rental. */
  async webRoute(label: string): Promise<{ deviceId: string; rentalId: string } | null> {
    const row = await findBackupDeviceByWebName(this.o.db, label);
    const c = row ? await this.current(row.device_id) : null;
    return c?.rental ? { deviceId: c.row.device_id, rentalId: c.rental.rentalId } : null;
  }

  /** A backed-up device's tunnel came up or went down here: a stretch of serving its rental begins or ends. */
  async tunnelChanged(deviceId: string, up: boolean): Promise<void> {
    const now = this.o.clock.now();
    const open = await findOpenService(this.o.db, deviceId);
    if (open) {
      // A started minute counts, as for a rental's own meter.
      await closeService(this.o.db, open.id, now.toISOString(), Math.ceil((now.getTime() - Date.parse(open.started_at)) / 60_000));
    }
    if (!up) return;
    const c = await this.current(deviceId);
    if (!c?.rental) return;
    const serviceId = newId();
    await openService(this.o.db, {
      id: serviceId,
      home_peer_id: c.row.home_peer_id,
      device_id: deviceId,
      rental_id: c.rental.rentalId,
      started_at: now.toISOString(),
      ended_at: null,
      minutes: 0,
      handed_back_at: null,
      amount_micros: null,
      fee_micros: null,
    });
    // Not awaited: the tunnel is up whether or not the renter's server answers.
    if (c.rental.renterOrigin)
      void this.tellRenterServer(serviceId, c.row, c.rental, now).catch((err: Error) =>
        this.o.log.warn({ deviceId }, `federation: moved: ${err.message}`),
      );
  }

  /**
   * A peer's renter (not the home's own): their server learns, signed, where the rental is
   * served now (`moved`, docs/federation.md "The join"). Sent once per stretch, and again
   * with backoff while the stretch lasts until that server acknowledges it (MovedSender).
   */
  private async tellRenterServer(serviceId: string, row: BackupDeviceRow, rental: BackupRental, now: Date): Promise<void> {
    const peers = await listPeers(this.o.db);
    const origin = peers.find((p) => p.url === rental.renterOrigin && p.state === 'active');
    const home = peers.find((p) => p.id === row.home_peer_id);
    if (!origin || !home || !this.o.publicAddress) return;
    const { sshHost, httpPort } = this.o.publicAddress();
    const webHost = `${row.web_name}.${this.o.webDomain}`;
    const body = {
      home: home.url,
      deviceId: row.device_id,
      ssh: { host: sshHost, port: row.ssh_port },
      webHost,
      httpUrl: `http://${webHost}${httpPort === 80 ? '' : `:${httpPort}`}/`,
      at: now.toISOString(),
    };
    await this.moved.send({ serviceId, deviceId: row.device_id, originUrl: origin.url, rentalId: rental.rentalId, body });
  }

  /** Hands every stretch served and not handed back to its home, signed; a home that does not answer gets it at the next try. */
  async handBack(): Promise<void> {
    const pending = await listService(this.o.db, { unhanded: true });
    if (pending.length === 0) return;
    const peers = new Map((await listPeers(this.o.db)).map((p) => [p.id, p]));
    for (const [peerId, stretches] of groupBy(pending, (s) => s.home_peer_id)) {
      const peer = peers.get(peerId);
      if (!peer || peer.state !== 'active') continue;
      const feeBps = (await findBackupHome(this.o.db, peerId))?.fee_bps ?? this.o.feeBps ?? defaultBackupFeeBps;
      const signer = this.o.signer();
      const handbacks = stretches.map((s) =>
        signHandback(
          {
            home: peer.url,
            serviceId: s.id,
            deviceId: s.device_id,
            rentalId: s.rental_id,
            from: s.started_at,
            to: s.ended_at!,
            minutes: s.minutes,
            backupFeeBps: feeBps,
          },
          signer,
        ),
      );
      const reply = await this.o.client.request(peer.url, 'POST', federationHandbackPath, { handbacks }).catch((err: Error) => ({
        status: 0,
        body: { code: 'federation_peer_unreachable', message: err.message },
      }));
      const parsed = reply.status === 200 ? BackupHandbackReply.safeParse(reply.body) : null;
      if (!parsed?.success) {
        if (reply.status !== 0) this.o.log.warn({ peer: peer.url }, `federation: hand-back refused: ${describeReply(reply)}`);
        continue;
      }
      const at = this.o.clock.now().toISOString();
      const byId = new Map(stretches.map((s) => [s.id, s]));
      for (const r of parsed.data.recorded) {
        const s = byId.get(r.serviceId);
        if (!s) continue;
        // The fee B recorded is what B owes us: marked and posted together, under the key B posts it with.
        await inTransaction(this.o.db, async (trx) => {
          await markHandedBack(trx, r.serviceId, at, r.amountMicros, r.feeMicros);
          await postMany(trx, [
            backupFeePosting('backup', {
              peerId,
              backupUrl: signer.url,
              serviceId: s.id,
              rentalId: s.rental_id,
              minutes: s.minutes,
              feeMicros: BigInt(r.feeMicros),
              at,
            }),
          ]);
        });
      }
    }
  }

  /** Devices of each home in its last snapshot (the operator's view). */
  async deviceCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const d of await listBackupDevices(this.o.db)) counts.set(d.home_peer_id, (counts.get(d.home_peer_id) ?? 0) + 1);
    return counts;
  }

  async backsUp(peerId: string): Promise<boolean> {
    return !!(await findBackupHome(this.o.db, peerId));
  }

  /** True while we hold `deviceId` for a home: nobody rents it here (docs/federation.md: new rentals while B is away). */
  async holds(deviceId: string): Promise<boolean> {
    return !!(await findBackupDevice(this.o.db, deviceId));
  }
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const i of items) m.set(key(i), [...(m.get(key(i)) ?? []), i]);
  return m;
}
