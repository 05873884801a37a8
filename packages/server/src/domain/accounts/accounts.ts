import type { Session, User } from '@p2pvps/protocol/schemas';
import {
  countAdmins,
  deleteApiToken,
  findUserByEmail,
  findUserByTokenHash,
  insertApiToken,
  insertUser,
  touchApiToken,
  updatePasswordHash,
  type UserRow,
} from '../../db/accounts-repo.ts';
import { isUniqueViolation } from '../../db/database.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { sendEmailVerification } from './email-verification.ts';
import { hashPassword, hashSecret, newId, newPassword, newSecret, passwordCost, verifyPassword } from '../secrets.ts';
import { inTransaction } from '../../db/transactions.ts';

export interface AuthenticatedUser {
  user: User;
  tokenId: string;
  /** How the caller proved who they are: an API token (Bearer) or a browser session (cookie). */
  via: 'token' | 'session';
}

export function presentUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    isAdmin: row.is_admin === 1,
    createdAt: row.created_at,
    emailVerified: Boolean(row.email_verified_at),
  };
}

export async function signup(ctx: DomainContext, email: string, password: string, isAdmin = false): Promise<Session> {
  const row = await createAccount(ctx, email, password, isAdmin);
  return { token: (await createApiToken(ctx, row.id, 'signup')).token, user: presentUser(row) };
}

export async function createAccount(ctx: DomainContext, email: string, password: string, isAdmin = false): Promise<UserRow> {
  const row: UserRow = {
    id: newId(),
    email,
    password_hash: await hashPassword(password, costOf(ctx)),
    is_admin: isAdmin ? 1 : 0,
    created_at: ctx.clock.now().toISOString(),
  };
  // The operator's own account needs no link; everyone else's address is confirmed by mail.
  row.email_verified_at = isAdmin ? row.created_at : null;
  try {
    await insertUser(ctx.db, row);
  } catch (err) {
    if (isUniqueViolation(err)) throw new DomainError('email_taken');
    throw err;
  }
  if (!isAdmin) await sendEmailVerification(ctx, row);
  return row;
}

export async function login(ctx: DomainContext, email: string, password: string): Promise<Session> {
  const row = await checkPassword(ctx, email, password);
  return { token: (await createApiToken(ctx, row.id, 'login')).token, user: presentUser(row) };
}

export async function createApiToken(
  ctx: DomainContext,
  userId: string,
  name: string,
  session?: { ttlMs: number },
): Promise<{ id: string; token: string }> {
  const token = newSecret(session ? 'p2pvps_session' : 'p2pvps');
  const now = ctx.clock.now();
  const id = newId();
  await insertApiToken(ctx.db, {
    id,
    user_id: userId,
    token_hash: hashSecret(token),
    name,
    created_at: now.toISOString(),
    kind: session ? 'session' : 'api',
    expires_at: session ? new Date(now.getTime() + session.ttlMs).toISOString() : null,
  });
  return { id, token };
}

const costOf = (ctx: DomainContext) => ctx.settings.passwordCost ?? passwordCost;

/**
 * Checks email and password the same way whatever the outcome, so timing does not tell
 * which emails exist (an unknown email is checked against a dummy hash of today's cost).
 * A password stored at an older, cheaper cost is hashed again at today's.
 */
export async function checkPassword(ctx: DomainContext, email: string, password: string): Promise<UserRow> {
  const cost = costOf(ctx);
  const row = await findUserByEmail(ctx.db, email);
  const dummy = `scrypt$${2 ** cost.log2N}$${cost.r}$${cost.p}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;
  const { ok, needsRehash } = await verifyPassword(password, row?.password_hash ?? dummy, cost);
  if (!row || !ok) throw new DomainError('invalid_credentials');
  if (needsRehash) {
    const upgraded = await hashPassword(password, cost);
    // Only if the password did not change meanwhile.
    await updatePasswordHash(ctx.db, row.id, row.password_hash, upgraded);
    return { ...row, password_hash: upgraded };
  }
  return row;
}

/**
 * Changes a user's password after checking the current one, and signs out every other
 * browser session and API token: whoever knew the old password may have made them.
 */
export async function changePassword(ctx: DomainContext, caller: AuthenticatedUser, current: string, next: string): Promise<void> {
  await checkPassword(ctx, caller.user.email, current);
  const hash = await hashPassword(next, costOf(ctx));
  await inTransaction(ctx.db, async (trx) => {
    await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', caller.user.id).execute();
    await trx.deleteFrom('api_tokens').where('user_id', '=', caller.user.id).where('id', '!=', caller.tokenId).execute();
  });
}

/** The user behind an API token (`via: 'token'`) or a session cookie (`via: 'session'`); a token only counts as what it was made for. */
export async function authenticateToken(ctx: DomainContext, token: string, via: 'token' | 'session'): Promise<AuthenticatedUser | null> {
  const now = ctx.clock.now();
  const row = await findUserByTokenHash(ctx.db, hashSecret(token), now.toISOString());
  if (!row || (row.token_kind === 'session') !== (via === 'session')) return null;
  const lastUsed = new Date(row.token_last_used_at ?? row.token_created_at).getTime();
  // A browser session left unused for a week has ended, whatever its 30 days say.
  if (row.token_kind === 'session' && now.getTime() - lastUsed >= sessionIdleMs) return null;
  // Written at most once a minute per token, not on every request.
  if (now.getTime() - lastUsed >= 60_000 || row.token_last_used_at === null) await touchApiToken(ctx.db, row.token_id, now.toISOString());
  return { user: presentUser(row), tokenId: row.token_id, via };
}

/** A browser session ends when unused for this long (on top of its fixed 30-day end). */
export const sessionIdleMs = 7 * 24 * 60 * 60_000;

export async function logout(ctx: DomainContext, tokenId: string): Promise<void> {
  await deleteApiToken(ctx.db, tokenId);
}

/**
 * On first start there is no operator: create one with a random password and hand the
 * password back so the caller can store it where only root can read it.
 */
export async function ensureOperator(ctx: DomainContext, email: string): Promise<{ email: string; password: string } | null> {
  if ((await countAdmins(ctx.db)) > 0) return null;
  const password = newPassword();
  await signup(ctx, email, password, true);
  return { email, password };
}
