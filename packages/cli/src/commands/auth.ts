import { ApiError } from '@p2pvps/protocol/client';
import { CliError, UsageError } from '../cli-error.ts';
import { booleanOption, stringOption, type ParsedArgs } from '../command.ts';
import { saveConfig } from '../config.ts';
import type { Context } from '../context.ts';
import { formatTime } from '../format.ts';
import { promptHidden, promptLine, readLine } from '../prompt.ts';
import { formatDetails } from '../table.ts';

/** signup, login, logout, whoami: getting and dropping the API token the other commands use. */

interface Credentials {
  email: string;
  password: string;
}

async function readCredentials(ctx: Context, args: ParsedArgs, command: 'signup' | 'login'): Promise<Credentials> {
  const fromStdin = booleanOption(args, 'password-stdin');
  const interactive = ctx.io.stdin.isTTY === true && !fromStdin;
  let email = stringOption(args, 'email');
  if (email === undefined) {
    if (!interactive) throw new UsageError('give --email when the password is not typed at a terminal', command);
    email = await promptLine(ctx.io, 'Email: ');
  }
  let password: string | undefined;
  if (fromStdin) {
    password = await readLine(ctx.io.stdin);
    if (password === undefined) throw new CliError('no_password', '--password-stdin was given but stdin was empty.');
  } else if (interactive) {
    password = await promptHidden(ctx.io, 'Password: ');
    if (command === 'signup' && (await promptHidden(ctx.io, 'Password again: ')) !== password) {
      throw new CliError('password_mismatch', 'The two passwords differ; nothing was changed.');
    }
  } else {
    throw new UsageError('stdin is not a terminal; pass the password on stdin with --password-stdin', command);
  }
  return { email, password };
}

async function startSession(ctx: Context, args: ParsedArgs, command: 'signup' | 'login'): Promise<void> {
  const credentials = await readCredentials(ctx, args, command);
  const session = await ctx.client().call(command, { body: credentials });
  await saveConfig(ctx.configPath, { ...ctx.config, server: ctx.server, token: session.token });
  if (ctx.printJson(session)) return;
  const verb = command === 'signup' ? 'Signed up' : 'Logged in';
  ctx.out(`${verb} as ${session.user.email} on ${ctx.server}.\nThe API token is saved in ${ctx.configPath}.\n`);
}

export const signup = (ctx: Context, args: ParsedArgs) => startSession(ctx, args, 'signup');
export const login = (ctx: Context, args: ParsedArgs) => startSession(ctx, args, 'login');

export async function logout(ctx: Context): Promise<void> {
  let alreadyRevoked = false;
  try {
    await ctx.userClient().call('logout', { body: {} });
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'unauthenticated')) throw err;
    alreadyRevoked = true;
  }
  // Forget the saved token only if it is the one we just revoked.
  if (ctx.config.token === ctx.token) {
    const { token: _dropped, ...rest } = ctx.config;
    await saveConfig(ctx.configPath, rest);
  }
  if (ctx.printJson({ ok: true })) return;
  ctx.out(alreadyRevoked ? `The token was no longer valid on ${ctx.server}; it is forgotten.\n` : `Logged out of ${ctx.server}.\n`);
}

export async function whoami(ctx: Context): Promise<void> {
  const user = await ctx.userClient().call('me');
  if (ctx.printJson(user)) return;
  ctx.out(
    formatDetails([
      ['Email', user.email],
      ['ID', user.id],
      ['Admin', user.isAdmin ? 'yes' : 'no'],
      ['Server', ctx.server],
      ['Since', formatTime(user.createdAt, ctx.now())],
    ]),
  );
}
