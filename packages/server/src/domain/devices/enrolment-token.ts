import { hashSecret, newSecret } from '../secrets.ts';

/**
 * An enrolment token is a one-time bearer secret that lets a device bind its key to a
 * device the owner added. Only its hash is stored; it expires; it is spent on use.
 */
export interface IssuedEnrolmentToken {
  token: string;
  tokenHash: string;
  expiresAt: Date;
}

export function issueEnrolmentToken(now: Date, ttlMs: number): IssuedEnrolmentToken {
  const token = newSecret('p2pe');
  return { token, tokenHash: hashSecret(token), expiresAt: new Date(now.getTime() + ttlMs) };
}

export type EnrolmentTokenProblem = 'unknown' | 'spent' | 'expired';

export function checkEnrolmentToken(
  stored: { expires_at: string; spent_at: string | null } | undefined,
  now: Date,
): EnrolmentTokenProblem | null {
  if (!stored) return 'unknown';
  if (stored.spent_at) return 'spent';
  if (new Date(stored.expires_at).getTime() <= now.getTime()) return 'expired';
  return null;
}
