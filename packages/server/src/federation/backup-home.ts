import { canonicalJson } from '@p2pvps/protocol/canonical-json';
import {
  BackupAgreement,
  BackupHandbackBody,
  BackupSnapshotReply,
  federationBackupDevicesPath,
  federationBackupsPath,
  type BackupAssignment,
  type BackupDevice,
  type DeviceBackup,
} from '@p2pvps/protocol/federation-backup-schemas';
import type { RentalFallback } from '@p2pvps/protocol/schemas';
import type { Db } from '../db/database.ts';
import { listPeers, type PeerRow } from '../db/federation-repo.ts';
import {
  deleteAgreement,
  findHandback,
  findRentalPrice,
  insertHandback,
  listAgreements,
  listBackedUpDevices,
  saveAgreement,
  saveAssignments,
  type BackupAgreementRow,
} from '../db/federation-backups-repo.ts';
import type { Clock } from '../domain/clock.ts';
import { DomainError } from '../domain/errors.ts';
import { describeReply, type FederationClient } from './federation-client.ts';
import { backupFeePosting, backupWorth, checkAgreement, checkHandback } from './backup-signatures.ts';
import { inTransaction } from '../db/transactions.ts';
import { postMany } from '../domain/money/ledger.ts';

/** A peer without an agreement is asked again this often (its operator may allow us since). */
const askEveryMs = 30_000;
/** The snapshot goes to every backup this often even unchanged, so a backup that lost it (restored, restarted) has it again. */
const resendEveryMs = 60_000;
/** How many of our devices we ask a backup to take. */
const askDevices = 1000;

export interface BackupHomeOptions {
  db: Db;
  clock: Clock;
  client: FederationClient;
  ownUrl: string;
  /** Our device's backups changed: nudge it, so its next heartbeat reply carries them. */
  nudge(deviceId: string): void;
  log: { warn(fields: object, message: string): void };
}

interface Agreement {
  row: BackupAgreementRow;
  agreement: BackupAgreement;
  assignments: BackupAssignment[];
}

/**
 * The home side of "Backup peers and failover" (docs/federation.md): asks every active
 * peer to back our devices up, keeps the agreements they sign, sends each one our
 * devices and their running rentals whenever they change (and every minute), tells our
 * devices where to go through their heartbeat replies, and records the stretches a backup
 * hands back, with the fee we owe it.
 */
export class BackupHome {
  private readonly askedAt = new Map<string, number>();
  private readonly pushed = new Map<string, { key: string; at: number }>();

  constructor(private readonly o: BackupHomeOptions) {}

  private async agreements(): Promise<Agreement[]> {
    const now = this.o.clock.now().getTime();
    return (await listAgreements(this.o.db))
      .filter((r) => Date.parse(r.valid_until) > now)
      .map((row) => ({
        row,
        agreement: BackupAgreement.parse(JSON.parse(row.agreement_json)),
        assignments: JSON.parse(row.assignments_json) as BackupAssignment[],
      }));
  }

  /** One round: ask peers for agreements (new or half gone), then send each backup our snapshot if it changed. */
  async tick(): Promise<void> {
    const peers = (await listPeers(this.o.db)).filter((p) => p.state === 'active');
    if (peers.length === 0) return;
    const now = this.o.clock.now().getTime();
    const held = new Map((await listAgreements(this.o.db)).map((r) => [r.peer_id, r]));
    for (const peer of peers) {
      const row = held.get(peer.id);
      const halfLeft = row && Date.parse(row.valid_until) - now > (Date.parse(row.valid_until) - Date.parse(row.updated_at)) / 2;
      if (halfLeft || now - (this.askedAt.get(peer.id) ?? -Infinity) < askEveryMs) continue;
      this.askedAt.set(peer.id, now);
      await this.ask(peer);
    }
    const agreements = await this.agreements();
    if (agreements.length === 0) return;
    const devices = await this.snapshot();
    const key = canonicalJson(devices);
    for (const a of agreements) {
      const peer = peers.find((p) => p.id === a.row.peer_id);
      const last = this.pushed.get(a.row.peer_id);
      if (!peer || (last?.key === key && now - last.at < resendEveryMs)) continue;
      await this.push(peer, a, devices.slice(0, a.agreement.maxDevices), key);
    }
  }

  /** A peer was linked or resumed: ask it at once rather than at the next round. */
  peerAdded(): void {
    this.askedAt.clear();
  }

  private async ask(peer: PeerRow): Promise<void> {
    const reply = await this.o.client.request(peer.url, 'POST', federationBackupsPath, { maxDevices: askDevices }).catch(() => null);
    if (!reply) return;
    if (reply.status === 403 && (reply.body as { code?: string })?.code === 'federation_not_backup') {
      // Its operator no longer backs us up: our devices must not count on it.
      await deleteAgreement(this.o.db, peer.id);
      return;
    }
    if (reply.status !== 200) return this.o.log.warn({ peer: peer.url }, `federation: backup request: ${describeReply(reply)}`);
    const key = { id: peer.fingerprint, alg: 'ed25519' as const, publicKey: peer.public_key };
    try {
      const agreement = checkAgreement(reply.body, { peer: { url: peer.url, key }, ownUrl: this.o.ownUrl, now: this.o.clock.now() });
      await saveAgreement(this.o.db, {
        peer_id: peer.id,
        agreement_json: JSON.stringify(reply.body),
        valid_until: agreement.validUntil,
        assignments_json: '[]',
        updated_at: this.o.clock.now().toISOString(),
      });
      this.pushed.delete(peer.id);
    } catch (err) {
      this.o.log.warn({ peer: peer.url }, `federation: refused ${peer.url}'s backup agreement: ${(err as Error).message}`);
    }
  }

  /** Our enrolled devices and their running rentals: never a password in clear, never the renter beyond their server. */
  async snapshot(): Promise<BackupDevice[]> {
    return (await listBackedUpDevices(this.o.db, askDevices)).map((d) => ({
      deviceId: d.device_id,
      agentPublicKey: d.public_key!,
      webName: d.web_name,
      rental:
        d.rental_id && d.username && d.password_crypt
          ? {
              rentalId: d.rental_id,
              username: d.username,
              passwordCrypt: d.password_crypt,
              sshPublicKey: d.ssh_public_key ?? null,
              expiresAt: d.expires_at ?? null,
              pricePerHourMicros: String(d.price_per_hour_micros ?? 0),
              // A peer's renter: the backup tells their server where the rental is (docs/federation.md, "The join").
              renterOrigin: d.renter_origin ?? null,
            }
          : null,
    }));
  }

  private async push(peer: PeerRow, a: Agreement, devices: BackupDevice[], key: string): Promise<void> {
    const reply = await this.o.client.request(peer.url, 'POST', federationBackupDevicesPath, { devices }).catch(() => null);
    const parsed = reply?.status === 200 ? BackupSnapshotReply.safeParse(reply.body) : null;
    if (!parsed?.success) {
      if (reply) this.o.log.warn({ peer: peer.url }, `federation: backup snapshot: ${describeReply(reply)}`);
      return;
    }
    this.pushed.set(peer.id, { key, at: this.o.clock.now().getTime() });
    const before = new Map(a.assignments.map((s) => [s.deviceId, canonicalJson(s)]));
    const after = parsed.data.devices;
    if (before.size === after.length && after.every((s) => before.get(s.deviceId) === canonicalJson(s))) return;
    await saveAssignments(this.o.db, peer.id, JSON.stringify(after), this.o.clock.now().toISOString());
    for (const s of after) if (before.get(s.deviceId) !== canonicalJson(s)) this.o.nudge(s.deviceId);
  }

  /** What a device's heartbeat reply carries: each backup that agreed and gave it a port. */
  async deviceBackups(deviceId: string): Promise<DeviceBackup[]> {
    const out: DeviceBackup[] = [];
    for (const a of await this.agreements()) {
      const s = a.assignments.find((x) => x.deviceId === deviceId);
      if (s)
        out.push({
          server: a.agreement.backup,
          gateway: a.agreement.gateway,
          sshPort: s.sshPort,
          webHost: s.webHost,
          validUntil: a.agreement.validUntil,
        });
    }
    return out;
  }

  /** A running rental's addresses on our backups, for its renter while we are up. */
  async fallbacks(deviceId: string): Promise<RentalFallback[]> {
    return (await this.deviceBackups(deviceId)).map((b) => ({
      server: b.server,
      ssh: { host: b.gateway.host, port: b.sshPort },
      webHost: b.webHost,
    }));
  }

  /** The URLs of our backups, for our signed listings. */
  async backupUrls(): Promise<string[]> {
    return (await this.agreements()).map((a) => a.agreement.backup);
  }

  /**
   * A backup hands back the stretches it served our rentals: each checked (signed by it,
   * for us, a rental of ours on that device, at the fee it agreed), then recorded once
   * with what the minutes are worth at the rental's price and the fee we owe the backup.
   */
  async receiveHandback(peer: PeerRow, body: unknown) {
    const parsed = BackupHandbackBody.safeParse(body);
    if (!parsed.success) throw new DomainError('invalid_request', 'The body must be {"handbacks": [...]}.');
    const agreement = (await this.agreements()).find((a) => a.row.peer_id === peer.id)?.agreement;
    const key = { id: peer.fingerprint, alg: 'ed25519' as const, publicKey: peer.public_key };
    const checked = parsed.data.handbacks.map((raw) => ({
      raw,
      h: checkHandback(raw, { peer: { url: peer.url, key }, ownUrl: this.o.ownUrl }),
    }));
    const recorded: { serviceId: string; amountMicros: string; feeMicros: string }[] = [];
    for (const { raw, h } of checked) {
      const rental = await findRentalPrice(this.o.db, h.rentalId);
      if (!rental || rental.device_id !== h.deviceId)
        throw new DomainError('federation_not_backup', `Rental ${h.rentalId} is not ours on device ${h.deviceId}.`);
      if (agreement && h.backupFeeBps !== agreement.backupFeeBps)
        throw new DomainError(
          'invalid_request',
          `A hand-back claims a fee of ${h.backupFeeBps} bps; the agreement says ${agreement.backupFeeBps}.`,
        );
      const { amount, fee } = backupWorth(h.minutes, BigInt(rental.price_per_hour_micros ?? 0), h.backupFeeBps);
      // Recorded and posted together, once: a repeated hand-back finds its row and posts nothing.
      const receivedAt = this.o.clock.now().toISOString();
      await inTransaction(this.o.db, async (trx) => {
        const fresh = await insertHandback(trx, {
          peer_id: peer.id,
          service_id: h.serviceId,
          device_id: h.deviceId,
          rental_id: h.rentalId,
          started_at: h.from,
          ended_at: h.to,
          minutes: h.minutes,
          amount_micros: amount.toString(),
          fee_bps: h.backupFeeBps,
          fee_micros: fee.toString(),
          handback_json: JSON.stringify(raw),
          received_at: receivedAt,
        });
        if (fresh)
          await postMany(trx, [
            backupFeePosting('home', {
              peerId: peer.id,
              backupUrl: peer.url,
              serviceId: h.serviceId,
              rentalId: h.rentalId,
              minutes: h.minutes,
              feeMicros: fee,
              at: receivedAt,
            }),
          ]);
      });
      // A repeat answers what was recorded the first time.
      const row = (await findHandback(this.o.db, peer.id, h.serviceId))!;
      recorded.push({ serviceId: h.serviceId, amountMicros: row.amount_micros, feeMicros: row.fee_micros });
    }
    return { accepted: recorded.length, recorded };
  }

  async agreedUntil(): Promise<Map<string, string>> {
    return new Map((await this.agreements()).map((a) => [a.row.peer_id, a.agreement.validUntil]));
  }
}
