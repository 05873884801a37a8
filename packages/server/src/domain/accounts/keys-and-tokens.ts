import { createHash } from 'node:crypto';
import type { SavedSshKey } from '@p2pvps/protocol/schemas';
import { deleteUserApiToken, deleteUserSshKey, insertSshKey, listUserApiTokens, listUserSshKeys } from '../../db/accounts-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { newId } from '../secrets.ts';
import { createApiToken, type AuthenticatedUser } from './accounts.ts';

/** The account page's API tokens: named, listed without their secret, revocable. Browser sessions are not listed. */
export async function listApiTokens(ctx: DomainContext, caller: AuthenticatedUser) {
  const rows = await listUserApiTokens(ctx.db, caller.user.id);
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, current: r.id === caller.tokenId }));
}

export async function makeApiToken(ctx: DomainContext, userId: string, name: string) {
  const { id, token } = await createApiToken(ctx, userId, name);
  return { id, name, token, createdAt: ctx.clock.now().toISOString() };
}

export async function revokeApiToken(ctx: DomainContext, userId: string, tokenId: string): Promise<void> {
  if (!(await deleteUserApiToken(ctx.db, userId, tokenId))) throw new DomainError('not_found');
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
  const rows = await listUserSshKeys(ctx.db, userId);
  return rows.map(presentKey);
}

export async function addSshKey(ctx: DomainContext, userId: string, name: string, publicKey: string): Promise<SavedSshKey> {
  const row = { id: newId(), user_id: userId, name, public_key: publicKey.trim(), created_at: ctx.clock.now().toISOString() };
  const same = (await listSshKeys(ctx, userId)).find((k) => k.fingerprint === fingerprintOf(row.public_key));
  if (same) throw new DomainError('invalid_request', `This key is already saved as "${same.name}".`, { 'body.publicKey': 'already saved' });
  await insertSshKey(ctx.db, row);
  return presentKey(row);
}

export async function removeSshKey(ctx: DomainContext, userId: string, keyId: string): Promise<void> {
  if (!(await deleteUserSshKey(ctx.db, userId, keyId))) throw new DomainError('not_found');
}
