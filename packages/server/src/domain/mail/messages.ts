import type { EndReason } from '@p2pvps/protocol/schemas';

/**
 * The notices the server mails, as plain text and simple HTML built from the same
 * paragraphs. Pure functions of what they say: no secret goes into a mail unless the
 * caller passes it (the rental password, when its renter chose that).
 */
export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

/**
 * Text someone other than the server chose (an owner's device name): shown as it is,
 * never made a link, so an owner cannot put a phishing link in a renter's mail from the
 * operator. (The server's own words and URLs around it are linked.)
 */
export interface UserText {
  user: string;
}
export const userText = (user: string): UserText => ({ user });

/** A paragraph: words (the server's links become clickable in HTML), or a line to copy (a command). */
type Paragraph = string | UserText | { code: string } | { parts: (string | UserText)[] };

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const linkify = (escaped: string) => escaped.replace(/https?:\/\/[^\s<]+[^\s<.,;:)]/g, (url) => `<a href="${url}">${url}</a>`);

/** Joins a paragraph's parts: the server's own text through `own`, user text through `user`. */
function render(p: string | UserText | { parts: (string | UserText)[] }, own: (s: string) => string, user: (s: string) => string): string {
  const parts = typeof p === 'string' ? [p] : 'parts' in p ? p.parts : [p];
  return parts.map((part) => (typeof part === 'string' ? own(part) : user(part.user))).join('');
}

/** A paragraph in which `values` (user text) sit between the server's words: `said\`Your rental of ${userText(name)}\``. */
export function said(strings: TemplateStringsArray, ...values: (string | UserText)[]): { parts: (string | UserText)[] } {
  const parts: (string | UserText)[] = [];
  strings.forEach((s, i) => {
    parts.push(s);
    if (i < values.length) parts.push(values[i]!);
  });
  return { parts };
}

function compose(subject: string, paragraphs: Paragraph[], marketName: string): MailContent {
  const all: Paragraph[] = [...paragraphs, `— ${marketName}`];
  const text =
    all
      .map((p) =>
        typeof p === 'object' && 'code' in p
          ? `    ${p.code}`
          : render(
              p,
              (s) => s,
              (s) => s,
            ),
      )
      .join('\n\n') + '\n';
  const body = all
    .map((p) =>
      typeof p === 'object' && 'code' in p
        ? `<pre style="background:#f4f4f4;padding:8px"><code>${escapeHtml(p.code)}</code></pre>`
        : `<p>${render(p, (s) => linkify(escapeHtml(s)), escapeHtml).replace(/\n/g, '<br>')}</p>`,
    )
    .join('\n');
  const html = `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>\n<body style="font-family:sans-serif;line-height:1.4">\n${body}\n</body></html>\n`;
  return { subject, text, html };
}

/** `2026-03-02 12:30 UTC`: one unambiguous form for every reader. */
export function formatTime(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 90) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 60);
  return `${hours} hours`;
}

export interface RentalFacts {
  marketName: string;
  deviceName: string;
  /** Where the renter sees the rental in the dashboard, with its password. */
  rentalUrl: string;
}

export function rentalActiveMail(
  r: RentalFacts & {
    sshCommand: string;
    username: string;
    /** Only when the renter chose to get it by email. */
    password: string | null;
    sshKeyGiven: boolean;
    httpUrl: string;
    httpsUrl: string;
    expiresAt: string | null;
  },
): MailContent {
  const login = r.password
    ? `Log in as ${r.username} with the password ${r.password}${r.sshKeyGiven ? ', or with the SSH key you gave' : ''}.`
    : `Log in as ${r.username}${r.sshKeyGiven ? ' with the SSH key you gave, or' : ''} with the password shown on the rental's page (not sent by email; you can choose to get it by email in your account settings): ${r.rentalUrl}`;
  return compose(
    `Your rental of ${r.deviceName} is ready`,
    [
      said`Your rental of ${userText(r.deviceName)} on ${r.marketName} is running. Connect with:`,
      { code: r.sshCommand },
      login,
      `Its web address: ${r.httpUrl} and ${r.httpsUrl} (your container's ports 80 and 443).`,
      r.expiresAt
        ? `It ends at ${formatTime(r.expiresAt)}; its container and files are wiped then.`
        : 'It runs until you stop it or your balance runs out; its container and files are wiped when it ends.',
      `The rental: ${r.rentalUrl}`,
    ],
    r.marketName,
  );
}

export function rentalEndingSoonMail(r: RentalFacts & { expiresAt: string; leftMs: number; renewsForHours?: number | null }): MailContent {
  if (r.renewsForHours)
    return compose(
      `Your rental of ${r.deviceName} renews in ${formatDuration(r.leftMs)}`,
      [
        said`Your rental of ${userText(r.deviceName)} on ${r.marketName} renews itself at ${formatTime(r.expiresAt)} for another ${String(r.renewsForHours)} h, paid from your balance then.`,
        'If your balance does not cover it then, the rental ends and its container and files are wiped. To let it end instead, turn auto-renew off on the rental page or with p2pvps extend RENTAL --auto-renew off.',
        `The rental: ${r.rentalUrl}`,
      ],
      r.marketName,
    );
  return compose(
    `Your rental of ${r.deviceName} ends in ${formatDuration(r.leftMs)}`,
    [
      said`Your rental of ${userText(r.deviceName)} on ${r.marketName} ends at ${formatTime(r.expiresAt)}.`,
      'Its container and files are wiped when it ends: copy anything you want to keep before then.',
      `The rental: ${r.rentalUrl}`,
    ],
    r.marketName,
  );
}

/** Why a rental ended, in words a renter reads after "It ended because". */
export function endReasonInWords(reason: EndReason, deviceLostGraceMs: number): string {
  switch (reason) {
    case 'renter_stopped':
      return 'you stopped it';
    case 'expired':
      return 'its prepaid time ran out';
    case 'device_removed':
      return 'its owner removed the device from the marketplace';
    case 'device_lost':
      return `the device was offline for more than ${formatDuration(deviceLostGraceMs)}`;
    case 'provisioning_failed':
      return 'the device could not start your container';
    case 'balance_exhausted':
      return 'your balance was used up';
    case 'app_failed':
      return 'its deployment package failed to install or start (the rental shows its log)';
    case 'guarantee_expired':
      return 'your server stopped paying for it (its guarantee to the device’s server ran out)';
  }
}

export function rentalEndedMail(
  r: RentalFacts & {
    reason: EndReason;
    deviceLostGraceMs: number;
    cost: string;
    /** Why auto-renewal did not renew it (the server's words). */ notRenewed?: string | null;
  },
): MailContent {
  const refund =
    r.reason === 'device_lost' || r.reason === 'device_removed' || r.reason === 'provisioning_failed' || r.reason === 'app_failed'
      ? ' Time you could not use was not charged.'
      : '';
  return compose(
    `Your rental of ${r.deviceName} has ended`,
    [
      said`Your rental of ${userText(r.deviceName)} on ${r.marketName} has ended because ${endReasonInWords(r.reason, r.deviceLostGraceMs)}.`,
      ...(r.notRenewed ? [`It was set to renew itself, but could not: ${r.notRenewed.replace(/^Not renewed: /, '')}`] : []),
      `It cost ${r.cost} in all.${refund} Its container and files are being wiped; nothing of it is kept.`,
      `The rental: ${r.rentalUrl}`,
    ],
    r.marketName,
  );
}

export function balanceLowMail(b: { marketName: string; balance: string; minutes: number; topUpUrl: string }): MailContent {
  return compose(
    'Your balance is running low',
    [
      `Your balance on ${b.marketName} is ${b.balance}: less than ${b.minutes} minutes of your running rentals.`,
      `Top up to keep them running: ${b.topUpUrl}`,
    ],
    b.marketName,
  );
}

export function balanceExhaustedMail(b: { marketName: string; balance: string; graceMs: number; topUpUrl: string }): MailContent {
  return compose(
    `Your balance is used up: your rentals end in ${formatDuration(b.graceMs)}`,
    [
      `Your balance on ${b.marketName} is used up (${b.balance}).`,
      `Your running rentals end in ${formatDuration(b.graceMs)} unless you top up, and their containers and files are wiped then: ${b.topUpUrl}`,
    ],
    b.marketName,
  );
}

export function deviceOfflineMail(d: {
  marketName: string;
  deviceName: string;
  since: string;
  deviceUrl: string;
  /** When the device is rented: how long its rental survives the outage. */
  rentedGraceMs: number | null;
}): MailContent {
  return compose(
    `Your device ${d.deviceName} is offline`,
    [
      said`Your device ${userText(d.deviceName)} has been offline on ${d.marketName} since ${formatTime(d.since)}: its tunnel to the server is down.`,
      d.rentedGraceMs !== null
        ? `It is rented: the rental is not charged while the device is away, and ends if it stays offline for ${formatDuration(d.rentedGraceMs)}.`
        : 'It is not listed on the marketplace while it is offline.',
      'Check that it has power and network and that its agent is running; it reconnects by itself once it can.',
      `The device: ${d.deviceUrl}`,
    ],
    d.marketName,
  );
}

export function hardwareFlaggedMail(d: { marketName: string; deviceName: string; reasons: string[]; deviceUrl: string }): MailContent {
  return compose(
    `Your device ${d.deviceName} is off the market: its benchmark fell short`,
    [
      said`The benchmark ${d.marketName} ran on your device ${userText(d.deviceName)} measured less than it claims:`,
      ...d.reasons,
      'It is not listed until a later benchmark passes; the server tries again while it is idle. Check its limits (a container or cgroup capping its CPU or memory, a full disk, a slow uplink).',
      `The device: ${d.deviceUrl}`,
    ],
    d.marketName,
  );
}

export function emailVerificationMail(v: { marketName: string; email: string; link: string; validHours: number }): MailContent {
  return compose(
    `Confirm your email address for ${v.marketName}`,
    [
      said`Someone, hopefully you, made an account on ${v.marketName} with the address ${userText(v.email)}.`,
      `Open this link to confirm it is yours, so that the server may mail you about your rentals and devices: ${v.link}`,
      `The link works for ${v.validHours} hours. If you did not make this account, ignore this mail: nothing more is sent here until the address is confirmed.`,
    ],
    v.marketName,
  );
}

export function disputeResolvedMail(d: RentalFacts & { refund: string | null; note: string | null }): MailContent {
  return compose(
    d.refund ? `Your dispute about ${d.deviceName}: ${d.refund} refunded` : `Your dispute about ${d.deviceName} was not upheld`,
    [
      d.refund
        ? said`The operator of ${d.marketName} looked into your dispute about your rental of ${userText(d.deviceName)} and refunded ${d.refund} to your balance.`
        : said`The operator of ${d.marketName} looked into your dispute about your rental of ${userText(d.deviceName)} and did not refund it.`,
      ...(d.note ? [said`Their note: ${userText(d.note)}`] : []),
      `The rental: ${d.rentalUrl}`,
    ],
    d.marketName,
  );
}
