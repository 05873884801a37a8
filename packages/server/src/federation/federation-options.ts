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
  federationFeePercent: {
    flag: 'federation-fee-percent',
    env: 'P2PVPS_FEDERATION_FEE_PERCENT',
    description:
      "What this server adds, in percent, to a peer's price when its renters rent a peer's device through it (shown on the market before renting).",
    schema: opt
      .string()
      .regex(/^(100(\.0{1,2})?|\d{1,2}(\.\d{1,2})?)$/, 'must be a percentage from 0 to 100 with at most two decimals, like 5 or 2.5'),
    default: '5',
  },
  federationRentalTickMs: {
    flag: 'federation-rental-tick-ms',
    env: 'P2PVPS_FEDERATION_RENTAL_TICK_MS',
    description:
      'How often cross-server rentals are looked after: usage reports and state changes sent (and sent again while a peer is away), guarantees renewed and enforced.',
    schema: opt.positiveInt().min(50, 'must be at least 50 ms'),
    default: '5000',
  },
  federationReportMinutes: {
    flag: 'federation-report-minutes',
    env: 'P2PVPS_FEDERATION_REPORT_MINUTES',
    description: "A peer's running rental is reported to the renter's server once this many minutes are unreported (and at its end).",
    schema: opt.positiveInt(),
    default: '5',
  },
  federationGuaranteeMinutes: {
    flag: 'federation-guarantee-minutes',
    env: 'P2PVPS_FEDERATION_GUARANTEE_MINUTES',
    description:
      "How long a pay-as-you-go guarantee this server gives a peer lasts; it is renewed when half is left while the renter's balance lasts, and the peer ends the rental if it runs out.",
    schema: opt.positiveInt(),
    default: '60',
  },
  federationStatementHours: {
    flag: 'federation-statement-hours',
    env: 'P2PVPS_FEDERATION_STATEMENT_HOURS',
    description: 'How often this server sends each peer that owes it a signed statement of the inter-server account.',
    schema: opt.positiveInt(),
    default: '24',
  },
  federationGraceDays: {
    flag: 'federation-grace-days',
    env: 'P2PVPS_FEDERATION_GRACE_DAYS',
    description: 'A statement is due this many days after its period ends.',
    schema: opt.positiveInt(),
    default: '7',
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
