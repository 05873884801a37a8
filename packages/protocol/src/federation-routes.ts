import type { RouteContract } from './route-contract.ts';
import {
  FederationIdentity,
  FederationOverview,
  FederationPeer,
  LinkPeerBody,
  PeerParams,
  UnlinkedPeer,
  UpdatePeerBody,
} from './federation-schemas.ts';

/** The operator's federation routes, spread into the route table (routes.ts). */
export const federationRoutes = {
  adminFederation: {
    method: 'GET',
    path: '/api/v1/admin/federation',
    summary: 'Operator: this server’s federation identity (key fingerprint) and its linked peers.',
    auth: 'admin',
    response: FederationOverview,
  },
  adminLinkPeer: {
    method: 'POST',
    path: '/api/v1/admin/federation/peers',
    summary: 'Operator: link a peer server by its URL and key fingerprint; refused unless its published key has that fingerprint.',
    auth: 'admin',
    body: LinkPeerBody,
    response: FederationPeer,
    status: 201,
  },
  adminUpdatePeer: {
    method: 'PATCH',
    path: '/api/v1/admin/federation/peers/:peerId',
    summary: 'Operator: suspend a peer (its requests are refused, its listings hidden) or make it active again.',
    auth: 'admin',
    params: PeerParams,
    body: UpdatePeerBody,
    response: FederationPeer,
  },
  adminUnlinkPeer: {
    method: 'DELETE',
    path: '/api/v1/admin/federation/peers/:peerId',
    summary: 'Operator: unlink a peer and forget its listings.',
    auth: 'admin',
    params: PeerParams,
    response: UnlinkedPeer,
  },
  adminRotateFederationKey: {
    method: 'POST',
    path: '/api/v1/admin/federation/rotate-key',
    summary: 'Operator: make a new server signing key, signed by the old one, so peers that knew the old key accept it.',
    auth: 'admin',
    response: FederationIdentity,
  },
} as const satisfies Record<string, RouteContract>;
