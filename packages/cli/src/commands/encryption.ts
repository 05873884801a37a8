import { readFile } from 'node:fs/promises';
import { StorageSecret, type Rental } from '@p2pvps/protocol/schemas';
import { CliError, UsageError } from '../cli-error.ts';
import { positional, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { printable } from '../format.ts';
import { promptHidden, readLine } from '../prompt.ts';

/**
 * The renter's secret for encrypted storage (`rent --encrypt`, `unlock`): from `--key-file`
 * (`-` for all of stdin), typed at a terminal without echo, or the first line of stdin. It is
 * sent to the server over the API and kept nowhere by the CLI (docs/encryption.md).
 */
export async function readStorageSecret(ctx: Context, args: ParsedArgs, command: 'rent' | 'unlock'): Promise<string> {
  const file = stringOption(args, 'key-file');
  let secret: string | undefined;
  if (file !== undefined) {
    try {
      secret = file === '-' ? await readAll(ctx.io.stdin) : await readFile(file, 'utf8');
    } catch (err) {
      throw new CliError('key_file_unreadable', `Cannot read the key file ${file}: ${(err as Error).message}.`);
    }
    secret = secret.replace(/\r?\n$/, '');
  } else if (ctx.io.stdin.isTTY === true) {
    secret = await promptHidden(ctx.io, 'Storage secret: ');
    if (command === 'rent' && (await promptHidden(ctx.io, 'Storage secret again: ')) !== secret)
      throw new CliError('secret_mismatch', 'The two secrets differ; nothing was rented.');
  } else {
    secret = await readLine(ctx.io.stdin);
    if (secret === undefined) throw new UsageError('give the storage secret on stdin, at a terminal, or with --key-file FILE', command);
  }
  const parsed = StorageSecret.safeParse(secret);
  if (!parsed.success) throw new CliError('secret_invalid', `The storage secret ${parsed.error.issues[0]?.message ?? 'is not valid'}.`);
  return parsed.data;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** How a rental's storage reads in `rent` and `rentals`. */
export function storageWords(rental: Rental): string | undefined {
  if (!rental.encrypted) return undefined;
  if (rental.storageLocked) return `encrypted, LOCKED: ${rental.storageLocked} ('p2pvps unlock ${rental.id}')`;
  return 'encrypted with your secret (docs/encryption.md: keep it; nobody can recover it)';
}

/** `unlock RENTAL`: sends the secret again after the device restarted, and waits until the device says. */
export async function unlockRental(ctx: Context, args: ParsedArgs): Promise<void> {
  const rentalId = positional(args, 0);
  const key = await readStorageSecret(ctx, args, 'unlock');
  const client = ctx.userClient();
  let rental = await client.call('unlockRental', { params: { rentalId }, body: { key } });
  // The device unlocks at its next sync, which the server asks for at once: a few seconds.
  for (let waited = 0; rental.storageLocked && waited < 60_000; waited += 1000) {
    await ctx.sleep(1000);
    const now = await client.call('getRental', { params: { rentalId } });
    const wrong = now.storageLocked && /does not open/.test(now.storageLocked);
    rental = now;
    if (wrong) break;
  }
  if (ctx.printJson(rental)) return;
  if (rental.storageLocked) {
    throw new CliError(
      'still_locked',
      `Rental ${rental.id} on ${printable(rental.deviceName)} is still locked: ${rental.storageLocked} The device may be offline; try again when it is up.`,
    );
  }
  ctx.out(`Unlocked the storage of rental ${rental.id} on ${printable(rental.deviceName)}; its container runs again.\n`);
}
