import { createHash } from 'node:crypto';
import type { SavedSshKey } from '@p2pvps/protocol/schemas';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { newId } from '../secrets.ts';
import { createApiToken, type AuthenticatedUser } from './accounts.ts';

/** The account page's API tokens: named, listed without their secret, revocable. Browser sessions are not listed. */
export async function listApiTokens(ctx: DomainContext, caller: AuthenticatedUser) {
  const rows = await ctx.db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'created_at'])
    .where('user_id', '=', caller.user.id)
    .where('kind', '=', 'api')
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, current: r.id === caller.tokenId }));
}

export async function makeApiToken(ctx: DomainContext, userId: string, name: string) {
  const { id, token } = await createApiToken(ctx, userId, name);
  return { id, name, token, createdAt: ctx.clock.now().toISOString() };
}

export async function revokeApiToken(ctx: DomainContext, userId: string, tokenId: string): Promise<void> {
  const result = await ctx.db
    .deleteFrom('api_tokens')
    .where('id', '=', tokenId)
    .where('user_id', '=', userId)
    .where('kind', '=', 'api')
    .executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw new DomainError('not_found');
}

/** OpenSSH's fingerprint of a public key line: SHA256:base64 of the key blob, unpadded. */
export function fingerprintOf(publicKey: string): string {
  const blob = Buffer.from(publicKey.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function presentKey(r: { id: string; name: string; public_key: string; created_at: string }): SavedSshKey {
  return { id: r.id, name: r.name, publicKey: r.public_key, fingerprint: fingerprintOf(r.public_key), createdAt: r.created_at };
}

export async function listSshKeys(ctx: DomainContext, userId: string): Promise<SavedSshKey[]> {
  const rows = await ctx.db.selectFrom('ssh_keys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
  return rows.map(presentKey);
}

export async function addSshKey(ctx: DomainContext, userId: string, name: string, publicKey: string): Promise<SavedSshKey> {
  const row = { id: newId(), user_id: userId, name, public_key: publicKey.trim(), created_at: ctx.clock.now().toISOString() };
  const same = (await listSshKeys(ctx, userId)).find((k) => k.fingerprint === fingerprintOf(row.public_key));
  if (same) throw new DomainError('invalid_request', `This key is already saved as "${same.name}".`, { 'body.publicKey': 'already saved' });
  await ctx.db.insertInto('ssh_keys').values(row).execute();
  return presentKey(row);
}

export async function removeSshKey(ctx: DomainContext, userId: string, keyId: string): Promise<void> {
  const result = await ctx.db.deleteFrom('ssh_keys').where('id', '=', keyId).where('user_id', '=', userId).executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw new DomainError('not_found');
}
