import type { RouteContract } from './route-contract.ts';
import { PeerParams } from './federation-schemas.ts';
import { BackupOverview, PeerBackupBody, PeerBackupState } from './federation-backup-schemas.ts';

/** The operator's backup routes (docs/federation.md, "Backup peers and failover"), spread into the route table. */
export const federationBackupRoutes = {
  adminFederationBackups: {
    method: 'GET',
    path: '/api/v1/admin/federation/backups',
    summary: 'Operator: for each peer, whether we back its devices up, and until when it agreed to back ours up.',
    auth: 'admin',
    response: BackupOverview,
  },
  adminPeerBackup: {
    method: 'POST',
    path: '/api/v1/admin/federation/peers/:peerId/backup',
    summary: "Operator: back a peer's devices up (its devices may fail over to this server's gateway), or stop.",
    auth: 'admin',
    params: PeerParams,
    body: PeerBackupBody,
    response: PeerBackupState,
  },
} as const satisfies Record<string, RouteContract>;
