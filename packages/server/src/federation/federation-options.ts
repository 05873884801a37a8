import { opt } from '@p2pvps/protocol/options';

/** Federation's options (docs/federation.md), spread into the server's option table. */
export const federationOptions = {
  federationPullMs: {
    flag: 'federation-pull-ms',
    env: 'P2PVPS_FEDERATION_PULL_MS',
    description:
      "How often every linked peer's listings are pulled, besides the pushes peers send when theirs change; 0 turns pulling off.",
    schema: opt.nonNegativeInt(),
    default: '300000',
  },
  federationPushCheckMs: {
    flag: 'federation-push-check-ms',
    env: 'P2PVPS_FEDERATION_PUSH_CHECK_MS',
    description: "How often this server's own listings are compared with the last ones pushed to peers, and pushed when they changed.",
    schema: opt.positiveInt().min(100, 'must be at least 100 ms'),
    default: '2000',
  },
  federationBackupFeeBps: {
    flag: 'federation-backup-fee-bps',
    env: 'P2PVPS_FEDERATION_BACKUP_FEE_BPS',
    description:
      'What this server charges a peer whose devices it backs up, in basis points of what the minutes it serves their rentals are worth (1000: 10 %); stated in each backup agreement.',
    schema: opt.nonNegativeInt().max(10_000, 'must be at most 10000 (100 %)'),
    default: '1000',
  },
};
