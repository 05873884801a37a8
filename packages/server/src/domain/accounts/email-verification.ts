import { findUserByEmailVerifyToken, findUserById, markEmailVerified, setEmailVerifyToken } from '../../db/accounts-repo.ts';
import { insertMail } from '../../db/mail-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { emailVerificationMail } from '../mail/messages.ts';
import { hashSecret, newId, newSecret } from '../secrets.ts';

/**
 * Anyone can sign up with any address, so the server mails nothing but this link to an
 * address until its owner opens it: no notices to strangers in the operator's name. The
 * link's token is stored hashed and lasts a day; a new one replaces it.
 */
export const emailVerificationTtlMs = 24 * 3_600_000;
/** A new link is mailed at most this often (asking again sooner is a no-op): no mail bombs through resend. */
export const resendAfterMs = 60_000;

/** The dashboard page the link opens; it hands the token to the API. */
export const verificationLink = (ctx: DomainContext, token: string) =>
  `${ctx.settings.publicUrl.replace(/\/+$/, '')}/verify-email?token=${encodeURIComponent(token)}`;

/** Mails a new verification link to the user's address (queued; the mail queue delivers it). */
export async function sendEmailVerification(ctx: DomainContext, user: { id: string; email: string }): Promise<void> {
  const token = newSecret('p2pv');
  const now = ctx.clock.now().toISOString();
  await setEmailVerifyToken(ctx.db, user.id, hashSecret(token), now);
  const content = emailVerificationMail({
    marketName: ctx.settings.serverName,
    email: user.email,
    link: verificationLink(ctx, token),
    validHours: emailVerificationTtlMs / 3_600_000,
  });
  await insertMail(ctx.db, {
    id: newId(),
    dedup_key: null,
    kind: 'email_verification',
    user_id: user.id,
    to_address: user.email,
    subject: content.subject,
    text_body: content.text,
    html_body: content.html,
    created_at: now,
  });
  ctx.mailQueued?.();
}

/** Sends a new link unless the address is verified or a link went out less than a minute ago. */
export async function resendEmailVerification(ctx: DomainContext, userId: string): Promise<void> {
  const user = await findUserById(ctx.db, userId);
  if (!user || user.email_verified_at) return;
  const last = user.email_verify_sent_at ? new Date(user.email_verify_sent_at).getTime() : 0;
  if (ctx.clock.now().getTime() - last < resendAfterMs) return;
  await sendEmailVerification(ctx, user);
}

/** Opens a verification link: the address is verified, the token spent. */
export async function verifyEmail(ctx: DomainContext, token: string): Promise<{ email: string }> {
  const hash = hashSecret(token);
  const user = await findUserByEmailVerifyToken(ctx.db, hash);
  const now = ctx.clock.now();
  const sent = user?.email_verify_sent_at ? new Date(user.email_verify_sent_at).getTime() : 0;
  if (!user || now.getTime() - sent > emailVerificationTtlMs) throw new DomainError('verification_token_invalid');
  if (!(await markEmailVerified(ctx.db, user.id, hash, now.toISOString()))) throw new DomainError('verification_token_invalid');
  return { email: user.email };
}
