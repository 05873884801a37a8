import type { AccountSettings } from '@p2pvps/protocol/schemas';
import { findUserById, setEmailRentalPassword } from '../../db/accounts-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';

/** A user's settings: for now, whether their rental passwords come by email. */
export async function getSettings(ctx: DomainContext, userId: string): Promise<AccountSettings> {
  const user = await findUserById(ctx.db, userId);
  if (!user) throw new DomainError('not_found');
  return { emailRentalPassword: user.email_rental_password === 1 };
}

export async function updateSettings(ctx: DomainContext, userId: string, changes: Partial<AccountSettings>): Promise<AccountSettings> {
  if (changes.emailRentalPassword !== undefined) {
    await setEmailRentalPassword(ctx.db, userId, changes.emailRentalPassword);
  }
  return getSettings(ctx, userId);
}
