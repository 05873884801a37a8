import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import type { Federation } from '../federation/federation-service.ts';
import { federationBackupAdminRoutes } from './federation-backups.ts';
import { mount, type Authenticator } from './register.ts';

/** The operator's federation routes: identity and fingerprint, peers (link, suspend, resume, unlink), key rotation. */
export function federationAdminRoutes(app: FastifyInstance, auth: Authenticator, federation: Federation): void {
  mount(app, auth, routes.adminFederation, () => federation.overview());
  mount(app, auth, routes.adminLinkPeer, async ({ body }) => {
    const peer = await federation.peers.link(body.url, body.fingerprint);
    federation.sync.peerAdded();
    federation.backups.peerAdded();
    return peer;
  });
  mount(app, auth, routes.adminUpdatePeer, async ({ params, body }) => {
    const peer = await federation.peers.setState(params.peerId, body.state);
    if (body.state === 'active') {
      federation.sync.peerAdded();
      federation.backups.peerAdded();
    }
    return peer;
  });
  mount(app, auth, routes.adminUnlinkPeer, async ({ params }) => {
    await federation.peers.unlink(params.peerId);
    return { unlinked: true as const };
  });
  mount(app, auth, routes.adminRotateFederationKey, () => federation.rotateKey());
  // The inter-server account: a peer's credit limit, our settlements to it, the statements exchanged.
  mount(app, auth, routes.adminSetPeerLimit, async ({ params, body }) => {
    await federation.statements.setLimit(params.peerId, body.limitMicros === null ? null : BigInt(body.limitMicros));
    return federation.peers.get(params.peerId);
  });
  mount(app, auth, routes.adminSettlePeer, ({ params, body }) =>
    federation.statements.settle(params.peerId, BigInt(body.amountMicros), body.reference, body.rail),
  );
  mount(app, auth, routes.adminPeerStatements, async ({ params }) => ({ statements: await federation.statements.list(params.peerId) }));
  federationBackupAdminRoutes(app, auth, federation);
}
