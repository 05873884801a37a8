import type { Db } from '../../db/database.ts';
import type { PayoutsTable } from '../../db/schema.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { newId } from '../secrets.ts';
import { balanceOf, post } from './ledger.ts';
import { formatMoney } from './money.ts';
import { inTransaction } from '../../db/transactions.ts';

/**
 * Owners' payouts. Requesting one moves the amount from the owner's earnings to their
 * pending payouts at once, so it cannot be requested twice. The operator pays it outside
 * (PayPal, a bank, a chain) in two steps: first they start it (requested → processing),
 * which takes it out of the owner's hands, then they pay it and record it as paid with
 * the rail and its reference, which moves it out through that rail's clearing account.
 * Its owner can cancel it only while it is requested, so a payout already on its way can
 * never also go back to the earnings and be asked for again; the operator can cancel it
 * until it is paid (a payment that failed), which returns the amount to the earnings.
 *
 *   requested ──start (operator)──▶ processing ──paid (operator)──▶ paid
 *       │                               │
 *       └──cancel (owner, operator)─────┴──cancel (operator)──▶ cancelled
 */
export type PayoutRow = PayoutsTable;

const railPattern = /^[a-z][a-z0-9-]{1,31}$/;

async function findPayout(db: Db, id: string): Promise<PayoutRow | undefined> {
  return db.selectFrom('payouts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function requestPayout(ctx: DomainContext, userId: string, amountMicros: bigint, destination: string): Promise<PayoutRow> {
  if (amountMicros <= 0n)
    throw new DomainError('invalid_request', 'The amount must be more than zero.', { 'body.amountMicros': 'must be more than 0' });
  return inTransaction(ctx.db, async (trx) => {
    const earnings = await balanceOf(trx, { kind: 'owner_earnings', userId });
    if (earnings < amountMicros) {
      throw new DomainError(
        'insufficient_earnings',
        `You asked for ${formatMoney(amountMicros, ctx.settings.currency)}; your devices have earned ${formatMoney(earnings, ctx.settings.currency)} not yet paid out.`,
      );
    }
    const at = ctx.clock.now().toISOString();
    const row: PayoutRow = {
      id: newId(),
      user_id: userId,
      amount_micros: amountMicros,
      state: 'requested',
      destination,
      rail: null,
      reference: null,
      requested_at: at,
      started_at: null,
      settled_at: null,
    };
    await trx.insertInto('payouts').values(row).execute();
    await post(trx, {
      kind: 'payout_request',
      memo: `payout ${row.id} requested to ${destination}`,
      at,
      postings: [
        { kind: 'owner_earnings', userId, amount: -amountMicros },
        { kind: 'payouts_pending', userId, amount: amountMicros },
      ],
    });
    return row;
  });
}

type PayoutStep = 'start' | 'paid' | 'cancel';

/** Why a payout in `state` cannot take `step` (by its owner when `byOwner`), or null when it can. */
function refusal(row: PayoutRow, step: PayoutStep, byOwner: boolean): string | null {
  const { id, state } = row;
  if (state === 'paid' || state === 'cancelled') return `Payout ${id} is already ${state}.`;
  if (step === 'start' && state === 'processing') return `Payout ${id} is already being paid (started ${row.started_at}).`;
  if (step === 'paid' && state === 'requested')
    return `Payout ${id} is not started: start it first (p2pvps admin payout-start ${id}), then pay it, so that its owner cannot cancel it while the money is on its way.`;
  if (step === 'cancel' && byOwner && state === 'processing')
    return `Payout ${id} is being paid by the operator and can no longer be cancelled.`;
  return null;
}

/**
 * Moves a payout on, in one transaction that re-reads its state, so owner and operator
 * actions in any order settle to one outcome. Throws payout_not_open when the step does not
 * apply to the state it is in.
 */
async function movePayout(
  ctx: DomainContext,
  payoutId: string,
  step: PayoutStep,
  fill: { rail?: string; reference?: string; byUserId?: string },
): Promise<PayoutRow> {
  return inTransaction(ctx.db, async (trx) => {
    const row = await findPayout(trx, payoutId);
    if (!row || (fill.byUserId !== undefined && row.user_id !== fill.byUserId)) throw new DomainError('not_found');
    const refused = refusal(row, step, fill.byUserId !== undefined);
    if (refused) throw new DomainError('payout_not_open', refused);
    const at = ctx.clock.now().toISOString();
    if (step === 'start') {
      const changes = { state: 'processing' as const, started_at: at };
      await updatePayoutFrom(trx, row, changes);
      return { ...row, ...changes };
    }
    const amount = BigInt(row.amount_micros);
    const pending = { kind: 'payouts_pending' as const, userId: row.user_id, amount: -amount };
    await post(
      trx,
      step === 'paid'
        ? {
            kind: 'payout_paid',
            memo: `payout ${row.id} paid by ${fill.rail} (${fill.reference})`,
            at,
            externalKey: `payout:${row.id}`,
            postings: [pending, { kind: 'rail_clearing', rail: fill.rail!, amount }],
          }
        : {
            kind: 'payout_cancelled',
            memo: `payout ${row.id} cancelled; back to earnings`,
            at,
            postings: [pending, { kind: 'owner_earnings', userId: row.user_id, amount }],
          },
    );
    const changes = {
      state: step === 'paid' ? ('paid' as const) : ('cancelled' as const),
      rail: fill.rail ?? null,
      reference: fill.reference ?? null,
      settled_at: at,
    };
    await updatePayoutFrom(trx, row, changes);
    return { ...row, ...changes };
  });
}

/** Writes a payout's new state only if it is still in the state it was read in (belt and braces for a database without one writer). */
async function updatePayoutFrom(trx: Db, row: PayoutRow, changes: Partial<PayoutRow>): Promise<void> {
  const res = await trx.updateTable('payouts').set(changes).where('id', '=', row.id).where('state', '=', row.state).executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new DomainError('payout_not_open', `Payout ${row.id} changed meanwhile; look at it again.`);
}

/** The operator claims a requested payout to pay it now: from here on its owner cannot cancel it. */
export function startPayout(ctx: DomainContext, payoutId: string): Promise<PayoutRow> {
  return movePayout(ctx, payoutId, 'start', {});
}

/** The operator records a started payout as made, with the rail it went by and that rail's reference. */
export function markPayoutPaid(ctx: DomainContext, payoutId: string, rail: string, reference: string): Promise<PayoutRow> {
  if (!railPattern.test(rail)) {
    throw new DomainError('invalid_request', 'The rail must be a short lower-case name like paypal, bank or bitcoin.', {
      'body.rail': 'must match [a-z][a-z0-9-]{1,31}',
    });
  }
  return movePayout(ctx, payoutId, 'paid', { rail, reference });
}

/** Cancels a payout: the owner's own (`byUserId`) while it is requested, or any not yet paid when the operator does it. */
export function cancelPayout(ctx: DomainContext, payoutId: string, byUserId?: string): Promise<PayoutRow> {
  return movePayout(ctx, payoutId, 'cancel', { byUserId });
}

export async function listPayouts(
  db: Db,
  filter: { userId?: string; state?: PayoutRow['state'] },
): Promise<(PayoutRow & { email: string })[]> {
  let q = db.selectFrom('payouts').innerJoin('users', 'users.id', 'payouts.user_id').selectAll('payouts').select('users.email as email');
  if (filter.userId) q = q.where('payouts.user_id', '=', filter.userId);
  if (filter.state) q = q.where('payouts.state', '=', filter.state);
  return q.orderBy('payouts.requested_at', 'desc').orderBy('payouts.id').execute();
}

export interface RentalEarning {
  rentalId: string;
  deviceId: string;
  deviceName: string;
  state: string;
  createdAt: string;
  endedAt: string | null;
  minutesBilled: number;
  chargedMicros: bigint;
  feeMicros: bigint;
  earnedMicros: bigint;
}

export interface Earnings {
  /** Earned and not yet paid out or requested. */
  availableMicros: bigint;
  pendingPayoutMicros: bigint;
  paidOutMicros: bigint;
  devices: { deviceId: string; deviceName: string; rentals: number; earnedMicros: bigint }[];
  rentals: RentalEarning[];
}

/**
 * What an owner's devices have earned: per rental (its charges minus the marketplace's
 * fee and what a dispute's refund took back: the same figures the ledger holds), per
 * device, and where the money is now: available, requested as a payout, paid out.
 */
export async function earningsOf(ctx: DomainContext, userId: string): Promise<Earnings> {
  const rows = await ctx.db
    .selectFrom('rentals')
    .innerJoin('devices', 'devices.id', 'rentals.device_id')
    // A dispute's refund takes the owner's part back from what the rental earned.
    .leftJoin('disputes', 'disputes.rental_id', 'rentals.id')
    .select([
      'rentals.id as rentalId',
      'rentals.device_id as deviceId',
      'devices.name as deviceName',
      'rentals.state as state',
      'rentals.created_at as createdAt',
      'rentals.ended_at as endedAt',
      'rentals.billed_minutes as minutesBilled',
      'rentals.charged_micros as charged',
      'rentals.fee_micros as fee',
      'disputes.owner_refund_micros as refunded',
    ])
    .where('devices.owner_id', '=', userId)
    .orderBy('rentals.created_at', 'desc')
    .orderBy('rentals.id')
    .execute();
  const rentals = rows.map((r) => ({
    rentalId: r.rentalId,
    deviceId: r.deviceId,
    deviceName: r.deviceName,
    state: r.state,
    createdAt: r.createdAt,
    endedAt: r.endedAt,
    minutesBilled: r.minutesBilled,
    chargedMicros: BigInt(r.charged),
    feeMicros: BigInt(r.fee),
    earnedMicros: BigInt(r.charged) - BigInt(r.fee) - BigInt(r.refunded ?? 0),
  }));
  const devices = new Map<string, Earnings['devices'][number]>();
  const owned = await ctx.db
    .selectFrom('devices')
    .select(['id', 'name'])
    .where('owner_id', '=', userId)
    .where('removed_at', 'is', null)
    .orderBy('name')
    .execute();
  for (const d of owned) devices.set(d.id, { deviceId: d.id, deviceName: d.name, rentals: 0, earnedMicros: 0n });
  for (const r of rentals) {
    const d = devices.get(r.deviceId) ?? { deviceId: r.deviceId, deviceName: r.deviceName, rentals: 0, earnedMicros: 0n };
    d.rentals++;
    d.earnedMicros += r.earnedMicros;
    devices.set(r.deviceId, d);
  }
  const paid = await ctx.db
    .selectFrom('payouts')
    .select((eb) => eb.fn.sum<string | number | bigint | null>('amount_micros').as('total'))
    .where('user_id', '=', userId)
    .where('state', '=', 'paid')
    .executeTakeFirst();
  return {
    availableMicros: await balanceOf(ctx.db, { kind: 'owner_earnings', userId }),
    pendingPayoutMicros: await balanceOf(ctx.db, { kind: 'payouts_pending', userId }),
    paidOutMicros: BigInt(paid?.total ?? 0),
    devices: [...devices.values()],
    rentals,
  };
}

/** The operator's view of the books: the balance of each kind of account, and their sum (zero). */
export async function ledgerTotals(db: Db): Promise<{ kind: string; accounts: number; balanceMicros: bigint }[]> {
  const rows = await db
    .selectFrom('ledger_accounts')
    .select('kind')
    .select((eb) => [eb.fn.countAll<number>().as('accounts'), eb.fn.sum<string | number | bigint>('balance').as('balance')])
    .groupBy('kind')
    .orderBy('kind')
    .execute();
  return rows.map((r) => ({ kind: r.kind, accounts: Number(r.accounts), balanceMicros: BigInt(r.balance ?? 0) }));
}
