import { listUnsealedPasswords, setRentalPassword, type RentalRow } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { newPassword } from '../secrets.ts';
import { sha512Crypt } from '../sha512-crypt.ts';
import { inTransaction } from '../../db/transactions.ts';

/**
 * A rental's password has three forms, each kept where it is needed and nowhere else:
 * in clear only in the renter's own view of the rental (and their mail, if they chose
 * that); sealed in the database, so the server can show it again; and as a `$6$` crypt(3)
 * hash for the device, which sets it with `chpasswd -e`. The device's owner, who can read
 * everything on the device, gets a hash of a 115-bit random password: nothing to log in with
 * anywhere else, and nothing to undo.
 */
export function newRentalPassword(ctx: DomainContext, rentalId: string): Pick<RentalRow, 'password_sealed' | 'password_crypt'> {
  const password = newPassword();
  return { password_sealed: ctx.secretBox.seal(password, rentalId), password_crypt: sha512Crypt(password) };
}

/** The password for the renter's eyes; '' once the rental has ended (it opens nothing then). */
export function revealPassword(ctx: DomainContext, row: Pick<RentalRow, 'id' | 'state' | 'password_sealed'>): string {
  if (row.state === 'ended' || row.password_sealed === '') return '';
  return ctx.secretBox.open(row.password_sealed, row.id);
}

/**
 * Seals, and hashes for the device, the passwords of rentals made before passwords were
 * sealed. Run at start, after the migrations and before the server answers anyone; a
 * migration cannot do it, since the key lives in the data dir, not the database. Returns
 * how many it sealed; idempotent.
 */
export async function sealLegacyPasswords(ctx: DomainContext): Promise<number> {
  const rows = await listUnsealedPasswords(ctx.db);
  await inTransaction(ctx.db, async (trx) => {
    for (const row of rows) {
      await setRentalPassword(trx, row.id, ctx.secretBox.seal(row.password_sealed, row.id), sha512Crypt(row.password_sealed));
    }
  });
  return rows.length;
}
