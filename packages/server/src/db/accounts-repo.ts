import type { Db } from './database.ts';
import type { SshKeysTable, UsersTable } from './schema.ts';

export type UserRow = UsersTable;

export function insertUser(db: Db, user: UserRow): Promise<unknown> {
  return db.insertInto('users').values(user).execute();
}

export function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}

/** Replaces a password hash, unless it changed since `was` was read. */
export function updatePasswordHash(db: Db, userId: string, was: string, hash: string): Promise<unknown> {
  return db.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).where('password_hash', '=', was).execute();
}

export function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function countAdmins(db: Db): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('is_admin', '=', 1)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export function insertApiToken(
  db: Db,
  token: {
    id: string;
    user_id: string;
    token_hash: string;
    name: string;
    created_at: string;
    kind?: 'api' | 'session';
    expires_at?: string | null;
  },
): Promise<unknown> {
  return db
    .insertInto('api_tokens')
    .values({ kind: 'api', expires_at: null, ...token, last_used_at: null })
    .execute();
}

/** The user a token belongs to, unless it has expired by `now`. */
export function findUserByTokenHash(
  db: Db,
  tokenHash: string,
  now: string,
): Promise<
  (UserRow & { token_id: string; token_kind: 'api' | 'session'; token_created_at: string; token_last_used_at: string | null }) | undefined
> {
  return db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .selectAll('users')
    .select([
      'api_tokens.id as token_id',
      'api_tokens.kind as token_kind',
      'api_tokens.created_at as token_created_at',
      'api_tokens.last_used_at as token_last_used_at',
    ])
    .where('api_tokens.token_hash', '=', tokenHash)
    .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', now)]))
    .executeTakeFirst();
}

export function deleteApiToken(db: Db, tokenId: string): Promise<unknown> {
  return db.deleteFrom('api_tokens').where('id', '=', tokenId).execute();
}

/** Of these token IDs, those that still exist and have not expired by `now`. */
export async function liveTokenIds(db: Db, ids: string[], now: string): Promise<Set<string>> {
  const live = new Set<string>();
  // In slices, to stay far below SQLite's limit on bound values.
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('api_tokens')
      .select('id')
      .where('id', 'in', ids.slice(i, i + 500))
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .execute();
    for (const r of rows) live.add(r.id);
  }
  return live;
}

/** Records that a token was used at `now`. */
export function touchApiToken(db: Db, tokenId: string, now: string): Promise<unknown> {
  return db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', tokenId).execute();
}

/** A user's browser sessions that are still valid at `now` (neither past their end nor idle since `idleSince`), newest first. */
export function listUserSessions(db: Db, userId: string, now: string, idleSince: string) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'created_at', 'last_used_at', 'expires_at'])
    .where('user_id', '=', userId)
    .where('kind', '=', 'session')
    .where('expires_at', '>', now)
    .where((eb) => eb(eb.fn.coalesce('last_used_at', 'created_at'), '>', idleSince))
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
}

/** Deletes one of a user's browser sessions; false when there is no such session of theirs. */
export async function deleteUserSession(db: Db, userId: string, sessionId: string): Promise<boolean> {
  const result = await db
    .deleteFrom('api_tokens')
    .where('id', '=', sessionId)
    .where('user_id', '=', userId)
    .where('kind', '=', 'session')
    .executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}

/** Deletes browser sessions past their end, or unused since `idleSince`; returns how many. */
export async function deleteDeadSessions(db: Db, now: string, idleSince: string): Promise<number> {
  const result = await db
    .deleteFrom('api_tokens')
    .where('kind', '=', 'session')
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb(eb.fn.coalesce('last_used_at', 'created_at'), '<=', idleSince)]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Stores a new pending verification token for a user (replacing any before). */
export function setEmailVerifyToken(db: Db, userId: string, tokenHash: string, sentAt: string): Promise<unknown> {
  return db
    .updateTable('users')
    .set({ email_verify_token_hash: tokenHash, email_verify_sent_at: sentAt })
    .where('id', '=', userId)
    .execute();
}

export function findUserByEmailVerifyToken(db: Db, tokenHash: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('email_verify_token_hash', '=', tokenHash).executeTakeFirst();
}

/** Marks the address verified and spends the token; false when someone spent it first. */
export async function markEmailVerified(db: Db, userId: string, tokenHash: string, at: string): Promise<boolean> {
  const res = await db
    .updateTable('users')
    .set({ email_verified_at: at, email_verify_token_hash: null })
    .where('id', '=', userId)
    .where('email_verify_token_hash', '=', tokenHash)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** A user's API tokens (not their browser sessions), newest first. */
export function listUserApiTokens(db: Db, userId: string): Promise<{ id: string; name: string; created_at: string }[]> {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'created_at'])
    .where('user_id', '=', userId)
    .where('kind', '=', 'api')
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
}

/** Deletes one of a user's API tokens; false when they have none by that ID. */
export async function deleteUserApiToken(db: Db, userId: string, tokenId: string): Promise<boolean> {
  const result = await db
    .deleteFrom('api_tokens')
    .where('id', '=', tokenId)
    .where('user_id', '=', userId)
    .where('kind', '=', 'api')
    .executeTakeFirst();
  return Number(result.numDeletedRows) !== 0;
}

/** Deletes every token and session of a user but `keepTokenId`. */
export async function deleteOtherApiTokens(db: Db, userId: string, keepTokenId: string): Promise<void> {
  await db.deleteFrom('api_tokens').where('user_id', '=', userId).where('id', '!=', keepTokenId).execute();
}

export async function setPasswordHash(db: Db, userId: string, hash: string): Promise<void> {
  await db.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).execute();
}

export async function setEmailRentalPassword(db: Db, userId: string, on: boolean): Promise<void> {
  await db
    .updateTable('users')
    .set({ email_rental_password: on ? 1 : 0 })
    .where('id', '=', userId)
    .execute();
}

export function listUserSshKeys(db: Db, userId: string): Promise<SshKeysTable[]> {
  return db.selectFrom('ssh_keys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
}

export async function insertSshKey(db: Db, row: SshKeysTable): Promise<void> {
  await db.insertInto('ssh_keys').values(row).execute();
}

/** Deletes one of a user's saved SSH keys; false when they have none by that ID. */
export async function deleteUserSshKey(db: Db, userId: string, keyId: string): Promise<boolean> {
  const result = await db.deleteFrom('ssh_keys').where('id', '=', keyId).where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) !== 0;
}

export async function userExists(db: Db, id: string): Promise<boolean> {
  const user = await db.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst();
  return user !== undefined;
}

/** Users in the order they signed up, after (created_at, id) `from` when given, up to `limit`. */
export function listUsersPage(db: Db, from: readonly [string, string] | undefined, limit: number): Promise<UserRow[]> {
  let q = db.selectFrom('users').selectAll();
  if (from) q = q.where((eb) => eb.or([eb('created_at', '>', from[0]), eb.and([eb('created_at', '=', from[0]), eb('id', '>', from[1])])]));
  return q.orderBy('created_at').orderBy('id').limit(limit).execute();
}
