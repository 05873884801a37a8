import { routes } from '@p2pvps/protocol/routes';
import { federationBackupDevicesPath, federationBackupsPath, federationHandbackPath } from '@p2pvps/protocol/federation-backup-schemas';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PeerRow } from '../db/federation-repo.ts';
import type { Federation } from '../federation/federation-service.ts';
import { mount, type Authenticator } from './register.ts';

/**
 * Backup peers' server-to-server routes (docs/federation.md), mounted by routes/federation.ts
 * behind its signature check: a home asks us for an agreement, sends its snapshot, and we
 * (as the home) take back what a backup served.
 */
export function federationBackupPeerRoutes(
  app: FastifyInstance,
  federation: Federation,
  preHandler: (req: FastifyRequest) => Promise<void>,
  sender: (req: FastifyRequest) => PeerRow,
): void {
  const { home, serving } = federation.backups;
  app.post(federationBackupsPath, { preHandler }, async (req) => serving.answerRequest(sender(req), req.body));
  app.post(federationBackupDevicesPath, { preHandler, bodyLimit: 8 * 1024 * 1024 }, async (req) =>
    serving.receiveSnapshot(sender(req), req.body),
  );
  app.post(federationHandbackPath, { preHandler }, async (req) => home.receiveHandback(sender(req), req.body));
}

/** The operator's backup routes: which peers we back up, which back us up, and the switch. */
export function federationBackupAdminRoutes(app: FastifyInstance, auth: Authenticator, federation: Federation): void {
  const state = async (peerId: string) => {
    const [until, counts] = await Promise.all([federation.backups.home.agreedUntil(), federation.backups.serving.deviceCounts()]);
    return {
      peerId,
      backsUp: await federation.backups.serving.backsUp(peerId),
      backsUsUpUntil: until.get(peerId) ?? null,
      devices: counts.get(peerId) ?? 0,
    };
  };
  mount(app, auth, routes.adminFederationBackups, async () => ({
    peers: await Promise.all((await federation.peers.list()).map((p) => state(p.id))),
  }));
  mount(app, auth, routes.adminPeerBackup, async ({ params, body }) => {
    await federation.backups.serving.allow(params.peerId, body.allow);
    return state(params.peerId);
  });
}
