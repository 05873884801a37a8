import type { Session, User } from '@p2pvps/protocol/schemas';
import {
  countAdmins,
  deleteApiToken,
  findUserByEmail,
  findUserByTokenHash,
  insertApiToken,
  insertUser,
  type UserRow,
} from '../../db/accounts-repo.ts';
import { isUniqueViolation } from '../../db/database.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { hashPassword, hashSecret, newId, newPassword, newSecret, verifyPassword } from '../secrets.ts';

export interface AuthenticatedUser {
  user: User;
  tokenId: string;
}

export function presentUser(row: UserRow): User {
  return { id: row.id, email: row.email, isAdmin: row.is_admin === 1, createdAt: row.created_at };
}

export async function signup(ctx: DomainContext, email: string, password: string, isAdmin = false): Promise<Session> {
  const row: UserRow = {
    id: newId(),
    email,
    password_hash: await hashPassword(password),
    is_admin: isAdmin ? 1 : 0,
    created_at: ctx.clock.now().toISOString(),
  };
  try {
    await insertUser(ctx.db, row);
  } catch (err) {
    if (isUniqueViolation(err)) throw new DomainError('email_taken');
    throw err;
  }
  return { token: await createApiToken(ctx, row.id, 'signup'), user: presentUser(row) };
}

export async function login(ctx: DomainContext, email: string, password: string): Promise<Session> {
  const row = await findUserByEmail(ctx.db, email);
  // Hash even for unknown emails so timing does not tell which emails exist.
  const ok = await verifyPassword(
    password,
    row?.password_hash ?? 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  );
  if (!row || !ok) throw new DomainError('invalid_credentials');
  return { token: await createApiToken(ctx, row.id, 'login'), user: presentUser(row) };
}

async function createApiToken(ctx: DomainContext, userId: string, name: string): Promise<string> {
  const token = newSecret('p2pvps');
  await insertApiToken(ctx.db, {
    id: newId(),
    user_id: userId,
    token_hash: hashSecret(token),
    name,
    created_at: ctx.clock.now().toISOString(),
  });
  return token;
}

export async function authenticateToken(ctx: DomainContext, token: string): Promise<AuthenticatedUser | null> {
  const row = await findUserByTokenHash(ctx.db, hashSecret(token));
  return row ? { user: presentUser(row), tokenId: row.token_id } : null;
}

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
