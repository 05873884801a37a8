import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { DomainError } from '../domain/errors.ts';

export const acmeChallengePrefix = '/.well-known/acme-challenge/';

/**
 * HTTPS for the server's own name, outside the JSON API:
 * - ACME HTTP-01 answers at /.well-known/acme-challenge/TOKEN, over plain HTTP as the CA asks;
 * - with an https public URL, responses over TLS carry HSTS (this host only: renters'
 *   sites below the web domain may well be plain HTTP), and every plain-HTTP request is
 *   redirected to the same path on the public URL. Not redirected: ACME challenges, and
 *   requests to a loopback name, which never left the machine (local monitoring, tests).
 */
export function transportSecurityRoutes(
  app: FastifyInstance,
  publicUrl: string,
  acmeChallenge?: (token: string) => string | undefined,
): void {
  app.get<{ Params: { token: string } }>(`${acmeChallengePrefix}:token`, async (req, reply) => {
    const answer = acmeChallenge?.(req.params.token);
    if (answer === undefined) throw new DomainError('not_found', 'There is no open ACME challenge with this token.');
    return reply.type('text/plain').send(answer);
  });
  const origin = new URL(publicUrl);
  if (origin.protocol !== 'https:') return;
  app.addHook('onRequest', async (req, reply) => {
    if (req.protocol === 'https') {
      reply.header('strict-transport-security', 'max-age=31536000');
      return;
    }
    if (req.url.startsWith(acmeChallengePrefix) || isLoopbackName(req.hostname)) return;
    // The public URL, never the Host header: the redirect cannot be pointed elsewhere.
    return reply.redirect(`${origin.origin}${req.url}`, 308);
  });
}

function isLoopbackName(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}
