import type { BackupGateway } from '@p2pvps/protocol/federation-backup-schemas';
import type { DomainContext } from '../domain/context.ts';
import { listPeers } from '../db/federation-repo.ts';
import { BackupHome } from './backup-home.ts';
import { BackupServing } from './backup-serving.ts';
import type { FederationClient } from './federation-client.ts';
import type { ServerIdentity } from './server-key.ts';

export interface BackupsOptions {
  ctx: DomainContext;
  identity: ServerIdentity;
  client: FederationClient;
  ownUrl: string;
  portRange: readonly [number, number];
  gateway: () => BackupGateway;
  /** How often both sides' work runs: asking, sending snapshots, handing back. */
  everyMs: number;
  /** What we charge the homes we back up, in basis points of the minutes served. */
  feeBps: number;
  mayRun(): boolean;
  log: { warn(fields: object, message: string): void };
}

/**
 * Backup peers and failover (docs/federation.md), both sides on every server: `home` for
 * our own devices (agreements, snapshots, what backups hand back), `serving` for peers'
 * devices we agreed to back up. One timer runs both on the node leading the periodic work.
 */
export class FederationBackups {
  readonly home: BackupHome;
  readonly serving: BackupServing;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | null = null;
  private closed = false;

  constructor(private readonly o: BackupsOptions) {
    const { ctx } = o;
    this.home = new BackupHome({
      db: ctx.db,
      clock: ctx.clock,
      client: o.client,
      ownUrl: o.ownUrl,
      nudge: (deviceId) => ctx.notifyDevice(deviceId, 'backups_changed'),
      log: o.log,
    });
    this.serving = new BackupServing({
      db: ctx.db,
      clock: ctx.clock,
      client: o.client,
      signer: () => ({ url: o.ownUrl, keyId: o.identity.key.id, sign: (d) => o.identity.sign(d) }),
      ownUrl: o.ownUrl,
      webDomain: ctx.settings.webDomain,
      portRange: o.portRange,
      gateway: o.gateway,
      publicAddress: () => ({ sshHost: ctx.settings.sshHost, httpPort: ctx.settings.httpPort }),
      feeBps: o.feeBps,
      // The gateway and the web routes look again (services/server.ts hears the devices bus).
      deviceChanged: (deviceId) => ctx.notifyDevice(deviceId, 'backup_changed'),
      log: o.log,
    });
  }

  start(): void {
    this.timer = setInterval(() => this.once(), this.o.everyMs);
    this.timer.unref();
  }

  /** A peer was linked or resumed: ask it now. */
  peerAdded(): void {
    this.home.peerAdded();
    this.once();
  }

  once(): Promise<unknown> {
    if (this.closed || !this.o.mayRun()) return Promise.resolve();
    this.running ??= (async () => {
      // No peer, no work: a server that federates with nobody pays one query per round.
      if ((await listPeers(this.o.ctx.db)).length === 0) return;
      await this.home.tick();
      await this.serving.handBack();
      await this.serving.retryMoved();
    })()
      .catch((err) => this.o.log.warn({ err }, 'federation backups failed'))
      .finally(() => (this.running = null));
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
  }
}
