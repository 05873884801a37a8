import type { FederationIdentity, FederationPeer } from '@p2pvps/protocol/federation-schemas';
import { MoneyFormatError, parseMoney } from '@p2pvps/protocol/money';
import { UsageError } from '../cli-error.ts';
import { stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatTime } from '../format.ts';
import { formatDetails, formatTable } from '../table.ts';

const actions = ['show', 'link', 'suspend', 'resume', 'unlink', 'rotate-key', 'limit', 'settle', 'statements', 'backup'] as const;

function printIdentity(ctx: Context, id: FederationIdentity): void {
  ctx.out(
    formatDetails([
      ['Server', `${id.name} (${id.url})`],
      ['Fingerprint', id.fingerprint],
      ['Published at', id.wellKnownUrl],
      ['Earlier keys', String(id.previousKeys.length)],
    ]),
  );
}

function printPeers(ctx: Context, peers: FederationPeer[]): void {
  if (peers.length === 0) {
    ctx.out('No peers linked. Link one: p2pvps admin federation link PEER_URL --fingerprint SHA256:...\n');
    return;
  }
  const now = ctx.now();
  ctx.out(
    formatTable(
      ['PEER', 'NAME', 'URL', 'STATE', 'FEE', 'LISTINGS', 'ACCOUNT', 'LIMIT', 'LAST SYNC', 'FINGERPRINT', 'PROBLEM'],
      peers.map((p) => [
        p.id,
        p.name,
        p.url,
        p.state,
        p.feePercent === null ? '-' : `${p.feePercent}%`,
        String(p.listings),
        // Positive: we owe the peer; negative: it owes us.
        p.accountMicros === undefined ? '-' : String(p.accountMicros / 1_000_000),
        p.creditLimitMicros == null ? '-' : `${p.creditLimitMicros / 1_000_000}${p.overLimitSince ? ' (over)' : ''}`,
        p.lastSyncAt ? formatTime(p.lastSyncAt, now) : 'never',
        p.fingerprint,
        p.lastError ?? '',
      ]),
    ),
  );
}

/** The peer named by ID, URL or name, for suspend/resume/unlink. */
async function peerId(ctx: Context, which: string): Promise<string> {
  const { peers } = await ctx.userClient().call('adminFederation');
  const found = peers.find((p) => p.id === which || p.url === which.replace(/\/$/, '') || p.name === which);
  if (!found) throw new UsageError(`no linked peer is called "${which}" (give its ID, URL or name)`, 'admin federation');
  return found.id;
}

/**
 * `admin federation [show | link PEER_URL --fingerprint FP | suspend PEER | resume PEER | unlink PEER | rotate-key]`:
 * this server's federation identity and its peers.
 */
export async function adminFederation(ctx: Context, args: ParsedArgs): Promise<void> {
  const action = args.positionals[0] ?? 'show';
  const target = args.positionals[1];
  if (action === 'backup') return backup(ctx, target, args.positionals[2]);
  if (!(actions as readonly string[]).includes(action)) {
    throw new UsageError(`the action must be one of ${actions.join(', ')}, not "${action}"`, 'admin federation');
  }
  const needsTarget = action !== 'show' && action !== 'rotate-key';
  const amountText = args.positionals[2];
  if ((action === 'limit' || action === 'settle') && target && !amountText)
    throw new UsageError(`${action} needs an amount after the peer${action === 'limit' ? ' (or "none")' : ''}`, 'admin federation');
  if (action !== 'limit' && action !== 'settle' && amountText)
    throw new UsageError(`unexpected argument "${amountText}"`, 'admin federation');
  if (needsTarget && !target)
    throw new UsageError(`${action} needs a peer (${action === 'link' ? 'its URL' : 'its ID, URL or name'})`, 'admin federation');
  if (args.positionals[2] !== undefined) throw new UsageError(`unexpected argument "${args.positionals[2]}"`, 'admin federation');
  if (!needsTarget && target) throw new UsageError(`unexpected argument "${target}"`, 'admin federation');
  const api = ctx.userClient();
  if (action === 'show') {
    const reply = await api.call('adminFederation');
    if (ctx.printJson(reply)) return;
    printIdentity(ctx, reply.identity);
    ctx.out('\n');
    printPeers(ctx, reply.peers);
  } else if (action === 'link') {
    const fingerprint = stringOption(args, 'fingerprint');
    if (!fingerprint)
      throw new UsageError("link needs the peer's key fingerprint: --fingerprint SHA256:... (ask its operator)", 'admin federation');
    const peer = await api.call('adminLinkPeer', { body: { url: target!, fingerprint } });
    if (ctx.printJson(peer)) return;
    ctx.out(
      `Linked ${peer.name} (${peer.url}), key ${peer.fingerprint}.\nIts operator must link this server too before either shows the other's listings.\n`,
    );
  } else if (action === 'suspend' || action === 'resume') {
    const peer = await api.call('adminUpdatePeer', {
      params: { peerId: await peerId(ctx, target!) },
      body: { state: action === 'suspend' ? 'suspended' : 'active' },
    });
    if (ctx.printJson(peer)) return;
    ctx.out(
      action === 'suspend' ? `Suspended ${peer.name}: its requests are refused and its listings hidden.\n` : `Resumed ${peer.name}.\n`,
    );
  } else if (action === 'unlink') {
    const reply = await api.call('adminUnlinkPeer', { params: { peerId: await peerId(ctx, target!) } });
    if (ctx.printJson(reply)) return;
    ctx.out(`Unlinked ${target}; its listings are gone from the market.\n`);
  } else if (action === 'limit') {
    const limitMicros = amountText === 'none' ? null : amount(amountText!);
    const peer = await api.call('adminSetPeerLimit', { params: { peerId: await peerId(ctx, target!) }, body: { limitMicros } });
    if (ctx.printJson(peer)) return;
    ctx.out(
      limitMicros === null
        ? `${peer.name} may owe this server any amount.\n`
        : `${peer.name} may owe this server at most ${amountText}; past it, its new rentals are refused until it settles.${peer.overLimitSince ? ' It is over the limit now.' : ''}\n`,
    );
  } else if (action === 'settle') {
    const reference = stringOption(args, 'reference');
    if (!reference)
      throw new UsageError('settle needs --reference REF: the bank transfer or transaction that paid the peer', 'admin federation');
    const rail = stringOption(args, 'rail');
    const result = await api.call('adminSettlePeer', {
      params: { peerId: await peerId(ctx, target!) },
      body: { amountMicros: amount(amountText!), reference, ...(rail ? { rail } : {}) },
    });
    if (ctx.printJson(result)) return;
    ctx.out(
      result.receipted
        ? `Settlement ${result.settlementId} sent and receipted by the peer.\n`
        : `Settlement ${result.settlementId} recorded, not receipted yet: ${result.problem}\n`,
    );
  } else if (action === 'statements') {
    const { statements } = await api.call('adminPeerStatements', { params: { peerId: await peerId(ctx, target!) } });
    if (ctx.printJson({ statements })) return;
    if (statements.length === 0) {
      ctx.out('No statements exchanged with this peer yet.\n');
      return;
    }
    const now = ctx.now();
    ctx.out(
      formatTable(
        ['WHEN', 'DIRECTION', 'STATE', 'UNTIL', 'CLOSING', 'PROBLEM'],
        statements.map((st) => [
          formatTime(st.createdAt, now),
          st.direction,
          st.state,
          formatTime(st.periodTo, now),
          String(st.closingMicros / 1_000_000),
          st.problem ?? '',
        ]),
      ),
    );
  } else {
    const id = await api.call('adminRotateFederationKey');
    if (ctx.printJson(id)) return;
    ctx.out(`New key ${id.fingerprint}, signed by the old one; peers follow it at their next request.\n`);
  }
}

function amount(text: string): number {
  try {
    return parseMoney(text);
  } catch (err) {
    if (err instanceof MoneyFormatError) throw new UsageError(err.message, 'admin federation');
    throw err;
  }
}

/**
 * `admin federation backup [PEER on|off]`: back a peer's devices up (they may fail over to
 * this server's gateway; docs/federation.md), or stop; without PEER, each peer's backups.
 */
async function backup(ctx: Context, target: string | undefined, value: string | undefined): Promise<void> {
  const api = ctx.userClient();
  if (target === undefined) {
    const reply = await api.call('adminFederationBackups');
    if (ctx.printJson(reply)) return;
    const { peers } = await api.call('adminFederation');
    const name = (id: string) => peers.find((p) => p.id === id)?.name ?? id;
    ctx.out(
      formatTable(
        ['PEER', 'WE BACK IT UP', 'ITS DEVICES HERE', 'IT BACKS US UP UNTIL'],
        reply.peers.map((p) => [name(p.peerId), p.backsUp ? 'yes' : 'no', String(p.devices), p.backsUsUpUntil ?? '-']),
      ),
    );
    return;
  }
  if (value !== 'on' && value !== 'off') throw new UsageError('backup needs a peer and on or off: backup PEER on|off', 'admin federation');
  const state = await api.call('adminPeerBackup', { params: { peerId: await peerId(ctx, target) }, body: { allow: value === 'on' } });
  if (ctx.printJson(state)) return;
  ctx.out(
    value === 'on'
      ? `This server now backs up ${target}'s devices: they may open their tunnel here while ${target} is unreachable.\n`
      : `This server no longer backs up ${target}'s devices.\n`,
  );
}
