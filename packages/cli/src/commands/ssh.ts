import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError } from '../cli-error.ts';
import { positional, stringOption, type ParsedArgs } from '../command.ts';
import { knownHostsDir, knownHostsFile, type Env } from '../config.ts';
import type { Context } from '../context.ts';
import { shellQuote, sshConfigPath } from '../format.ts';
import { ApiError } from '@p2pvps/protocol/client';
import { resolveRental } from './open-rentals.ts';
import { findFallbacks, rememberFallbacks, type CachedRental } from './rental-fallbacks.ts';
import { waitForActive } from './rentals.ts';

/**
 * `ssh RENTAL|DEVICE [-- COMMAND...]`: OpenSSH to a rental's container, with a known_hosts file
 * per rental (the port is reused, the container's host keys are not) and the rental's
 * password handed over through SSH_ASKPASS so it never appears on a command line.
 */

export interface SshInvocation {
  host: string;
  port: number;
  username: string;
  knownHostsFile: string;
  identity?: string;
  /** Set when the password is supplied by askpass: one try, then give up. */
  passwordByAskpass: boolean;
  /** The rental has no key, so no key can work: go straight to the password. */
  passwordOnly: boolean;
  command: readonly string[];
}

/** How ssh logs in to a rental's container. */
export interface LoginPlan {
  /** The key to offer, from --identity; otherwise ssh offers the renter's usual keys. */
  identity?: string;
  /** Set when askpass answers ssh's password prompt. */
  password?: string;
  passwordOnly: boolean;
  /** Said on stderr before ssh starts. */
  note?: string;
}

/**
 * Rented with a key: keys first (--identity, else the renter's own), and the password
 * through askpass only if ssh asks for it, which it does once no key has worked.
 * Rented without one: no key can work, so offering keys would only spend login attempts
 * (and maybe ask for a passphrase): the password straight away.
 */
export function loginPlan(
  rental: { id: string; connection: { password: string; sshKeyGiven: boolean } },
  identity: string | undefined,
): LoginPlan {
  const password = rental.connection.password === '' ? {} : { password: rental.connection.password };
  if (rental.connection.sshKeyGiven) {
    return { ...(identity !== undefined ? { identity } : {}), ...password, passwordOnly: false };
  }
  return {
    ...password,
    passwordOnly: true,
    ...(identity !== undefined
      ? { note: `Rental ${rental.id} was rented without an SSH key, so ${identity} cannot log in; using its password.` }
      : {}),
  };
}

/** The argument list for OpenSSH's `ssh`; exported for tests. */
export function buildSshArgs(inv: SshInvocation): string[] {
  const args = [
    '-p',
    String(inv.port),
    '-o',
    `UserKnownHostsFile=${sshConfigPath(inv.knownHostsFile)}`,
    '-o',
    'StrictHostKeyChecking=accept-new',
  ];
  if (inv.identity !== undefined) args.push('-i', inv.identity, '-o', 'IdentitiesOnly=yes');
  if (inv.passwordOnly) args.push('-o', 'PreferredAuthentications=password,keyboard-interactive');
  if (inv.passwordByAskpass) args.push('-o', 'NumberOfPasswordPrompts=1');
  // After a `--` before the destination, OpenSSH reads no more options: the command may
  // start with `-`. (A second `--` after the destination would be sent as part of it.)
  args.push('--', `${inv.username}@${inv.host}`);
  const command = remoteCommand(inv.command);
  if (command !== undefined) args.push(command);
  return args;
}

/**
 * OpenSSH joins the words of a remote command with spaces and has the remote shell parse
 * the result, so `sh -c 'exit 7'` would arrive as `sh -c exit 7`. Several words are
 * therefore quoted to arrive as they were given; a single word stays a command line for
 * the remote shell, so `-- 'ls | wc -l'` still works.
 */
export function remoteCommand(words: readonly string[]): string | undefined {
  if (words.length === 0) return undefined;
  if (words.length === 1) return words[0];
  return words.map(shellQuote).join(' ');
}

/** ssh's environment: ours without the API token, plus askpass when it supplies the password. */
export function sshEnvironment(env: Env, askpass: string | undefined): NodeJS.ProcessEnv {
  // The API token has no business in a session on someone else's device (SendEnv).
  const { P2PVPS_TOKEN: _token, ...rest } = env;
  if (askpass === undefined) return { ...rest };
  // "force": askpass even without a terminal or $DISPLAY, so scripts can run commands.
  return { ...rest, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' };
}

/**
 * The askpass program: answers ssh's password prompt with the rental's password, and
 * passes any other prompt (a key passphrase) to the person at the terminal, if any.
 */
export function askpassScript(password: string): string {
  const quoted = `'${password.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh
# Written by p2pvps for one ssh session; deleted when it ends.
case "$1" in
  *[Pp]assword:|*[Pp]assword:\\ ) printf '%s\\n' ${quoted} ;;
  *)
    ( : </dev/tty ) 2>/dev/null || exit 1
    printf '%s' "$1" >/dev/tty
    stty -echo </dev/tty 2>/dev/null
    IFS= read -r answer </dev/tty
    status=$?
    stty echo </dev/tty 2>/dev/null
    printf '\\n' >/dev/tty
    [ "$status" -eq 0 ] || exit 1
    printf '%s\\n' "$answer"
    ;;
esac
`;
}

/** Runs a program with our terminal and resolves with its exit code (128+N when killed by signal N). */
function runInteractive(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: 'inherit', env });
    // The terminal sends Ctrl-C to ssh too; we stay alive to clean up after it.
    const ignore = () => {};
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', ignore).on('SIGQUIT', ignore).on('SIGTERM', forward).on('SIGHUP', forward);
    const done = () => {
      process.off('SIGINT', ignore).off('SIGQUIT', ignore).off('SIGTERM', forward).off('SIGHUP', forward);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      done();
      if (err.code === 'ENOENT') {
        reject(new CliError('ssh_not_found', `Cannot run "${program}": OpenSSH's ssh is not installed or not on PATH.`));
      } else reject(err);
    });
    child.once('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

export async function ssh(ctx: Context, args: ParsedArgs): Promise<number> {
  const client = ctx.userClient();
  let rental;
  try {
    rental = await resolveRental(client, positional(args, 0));
  } catch (err) {
    // The rental's server cannot be reached: its backup peers may be serving the rental.
    const cached =
      err instanceof ApiError && err.code === 'server_unreachable' ? findFallbacks(ctx.configPath, positional(args, 0)) : undefined;
    if (!cached) throw err;
    return sshThroughBackup(ctx, args, cached, (err as Error).message);
  }
  rememberFallbacks(ctx.configPath, rental);
  const knownHosts = knownHostsFile(ctx.configPath, rental.id);
  if (rental.state === 'requested') rental = await waitForActive(ctx, client, rental, 300);
  if (rental.state !== 'active') {
    throw new CliError(
      'rental_not_open',
      `Rental ${rental.id} has ended (${rental.endReason ?? rental.state}); rent again to get a new container.`,
    );
  }
  await mkdir(knownHostsDir(ctx.configPath), { recursive: true, mode: 0o700 });

  const plan = loginPlan(rental, stringOption(args, 'identity'));
  if (plan.note) ctx.io.stderr.write(`${plan.note}\n`);
  const askpassDir = plan.password !== undefined ? await mkdtemp(join(tmpdir(), 'p2pvps-askpass-')) : undefined;
  try {
    let askpass: string | undefined;
    if (askpassDir && plan.password !== undefined) {
      askpass = join(askpassDir, 'askpass');
      await writeFile(askpass, askpassScript(plan.password), { mode: 0o700 });
    }
    const sshArgs = buildSshArgs({
      host: rental.connection.host,
      port: rental.connection.port,
      username: rental.connection.username,
      knownHostsFile: knownHosts,
      ...(plan.identity !== undefined ? { identity: plan.identity } : {}),
      passwordByAskpass: askpassDir !== undefined,
      passwordOnly: plan.passwordOnly,
      command: args.rest,
    });
    return await runInteractive(ctx.env.P2PVPS_SSH || 'ssh', sshArgs, sshEnvironment(ctx.env, askpass));
  } finally {
    if (askpassDir) await rm(askpassDir, { recursive: true, force: true });
  }
}

/**
 * `ssh` while the rental's server is down: to the first backup address the server gave
 * for the rental while it was up (rental-fallbacks.ts), with the renter's key, or their
 * password typed at ssh's prompt (it is not kept).
 */
async function sshThroughBackup(ctx: Context, args: ParsedArgs, cached: CachedRental, why: string): Promise<number> {
  const fallback = cached.fallbacks[0]!;
  ctx.io.stderr.write(
    `${why}\nTrying rental ${cached.id} through its backup server ${fallback.server} (${fallback.ssh.host}:${fallback.ssh.port}).\n`,
  );
  await mkdir(knownHostsDir(ctx.configPath), { recursive: true, mode: 0o700 });
  const identity = stringOption(args, 'identity');
  const sshArgs = buildSshArgs({
    host: fallback.ssh.host,
    port: fallback.ssh.port,
    username: cached.username,
    knownHostsFile: knownHostsFile(ctx.configPath, cached.id),
    ...(identity !== undefined && cached.sshKeyGiven ? { identity } : {}),
    passwordByAskpass: false,
    passwordOnly: !cached.sshKeyGiven,
    command: args.rest,
  });
  return runInteractive(ctx.env.P2PVPS_SSH || 'ssh', sshArgs, sshEnvironment(ctx.env, undefined));
}
