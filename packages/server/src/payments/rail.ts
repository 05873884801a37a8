/**
 * The one interface every payment rail implements. A rail turns money arriving from
 * outside (an operator's grant, a PayPal capture, a confirmed on-chain deposit) into
 * deposit events; the ledger applies each event at most once, keyed by (rail, eventId).
 *
 * Amounts are integers in the marketplace currency's micro-units (1 USD = 1_000_000),
 * as bigint: no floating point anywhere money is computed.
 */
export interface DepositEvent {
  /** The rail's name, e.g. 'operator', 'paypal', 'ethereum', 'bitcoin'. */
  rail: string;
  /** Unique per rail and stable across redeliveries: a PayPal capture ID, `txid:vout`, `txhash:logIndex`. */
  eventId: string;
  /** The marketplace user credited. */
  userId: string;
  /** Amount credited, in micro-units of the marketplace currency. */
  amountMicros: bigint;
  /** What the renter and operator see on a statement: the external reference. */
  reference: string;
  /** When the money arrived, per the rail (ISO-8601). */
  occurredAt: string;
}

/** Receives deposit events; returns false when the event was already applied (a redelivery). */
export type DepositSink = (event: DepositEvent) => Promise<boolean>;

/**
 * Money that came in and went back out (a refund, a chargeback, a denied payment): `amountMicros`
 * is taken back from the renter's balance, under (rail, eventId) like a deposit, but only if the
 * deposit `reverses` (its eventId) was credited. The balance may go negative: the money is gone.
 */
export interface ReversalEvent extends DepositEvent {
  reverses: string;
}

/** Applies a reversal: 'reversed', 'already_reversed' (a redelivery) or 'not_credited' (nothing to take back). */
export type ReversalSink = (event: ReversalEvent) => Promise<'reversed' | 'already_reversed' | 'not_credited'>;

export interface PaymentRail {
  readonly name: string;
  /** Begins watching or listening (webhooks are mounted separately); resolves once running. */
  start(sink: DepositSink, reverse?: ReversalSink): Promise<void>;
  close(): Promise<void>;
}
