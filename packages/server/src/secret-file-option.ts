import { readFileSync } from 'node:fs';
import { opt } from '@p2pvps/protocol/options';
import { z } from 'zod';

/**
 * An option naming a file that holds a secret (`--smtp-url-file /etc/p2pvps/smtp-url`): its
 * value is the file's content, trimmed. A flag's value shows in `ps` and shell history, a
 * path does not; the secret option it stands for defaults to it.
 */
export function secretFile() {
  return opt
    .string()
    .transform((path, ctx) => {
      try {
        const text = readFileSync(path, 'utf8').trim();
        if (text) return text;
        ctx.addIssue({ code: 'custom', message: `${path} is empty` });
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `cannot read ${path}: ${(err as Error).message}` });
      }
      return z.NEVER;
    })
    .optional();
}
