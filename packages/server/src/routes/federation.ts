import { federationListingsPath, wellKnownServerPath } from '@p2pvps/protocol/federation-schemas';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PeerRow } from '../db/federation-repo.ts';
import type { Federation } from '../federation/federation-service.ts';
import { verifyPeerRequest } from '../federation/request-verifier.ts';
import { federationRentalRoutes } from './federation-rentals.ts';
import { federationBackupPeerRoutes } from './federation-backups.ts';

/** The peer a verified federation request came from (set by the preHandler). */
const senders = new WeakMap<FastifyRequest, PeerRow>();

/**
 * Server-to-server routes: the public server document, and under /federation/ the routes
 * only linked peers may call, each request verified by one preHandler (RFC 9421
 * signature, digest, clock window, nonce, origin: federation/request-verifier.ts).
 */
export function federationRoutes(app: FastifyInstance, federation: Federation): void {
  app.get(wellKnownServerPath, async () => federation.document());

  const preHandler = async (req: FastifyRequest) => {
    senders.set(
      req,
      await verifyPeerRequest(federation.verifier, { method: req.method, url: req.url, headers: req.headers, rawBody: req.rawBody ?? '' }),
    );
  };
  const sender = (req: FastifyRequest) => senders.get(req)!;

  // A peer pulls our listings.
  app.get(federationListingsPath, { preHandler }, async () => ({ listings: await federation.sync.snapshot() }));
  // A peer pushes its own listings (all of them).
  // A snapshot of up to 2000 listings (under 1 KiB each) is larger than the API's usual body limit.
  app.post(federationListingsPath, { preHandler, bodyLimit: 4 * 1024 * 1024 }, async (req) => ({
    accepted: await federation.sync.receive(sender(req), req.body),
  }));
  // Cross-server rentals: offers, state, usage (routes/federation-rentals.ts).
  federationRentalRoutes(app, federation, preHandler, sender);
  // Backup peers: agreements, snapshots, hand-backs.
  federationBackupPeerRoutes(app, federation, preHandler, sender);
}
