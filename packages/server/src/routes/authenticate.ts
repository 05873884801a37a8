import { deviceSigningText, ed25519KeyFromOpenSsh, parseDeviceAuth, verifyDeviceSignature } from '@p2pvps/protocol/device-auth';
import { timing } from '@p2pvps/protocol/timing';
import type { FastifyRequest } from 'fastify';
import { findDevice } from '../db/devices-repo.ts';
import { authenticateToken } from '../domain/accounts/accounts.ts';
import { csrfMatches, sessionCookie } from '../domain/accounts/sessions.ts';
import type { DomainContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import type { Authenticator } from './register.ts';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
  }
}

export function createAuthenticator(ctx: DomainContext): Authenticator {
  // Signatures seen inside the skew window: a captured request cannot be replayed.
  const seen = new Map<string, number>();
  return {
    async user(req) {
      const header = req.headers.authorization;
      if (header?.startsWith('Bearer ')) {
        const user = await authenticateToken(ctx, header.slice(7).trim(), 'token');
        if (!user) throw new DomainError('unauthenticated');
        return user;
      }
      // A browser: the session cookie, and on anything that changes state the CSRF token
      // the page got from the API, which another site cannot read.
      const session = sessionCookie(ctx, req.headers.cookie);
      const user = session ? await authenticateToken(ctx, session, 'session') : null;
      if (!user) throw new DomainError('unauthenticated');
      if (req.method !== 'GET' && req.method !== 'HEAD' && !csrfMatches(session!, req.headers['x-csrf-token'])) {
        throw new DomainError('csrf_failed');
      }
      return user;
    },
    async device(req: FastifyRequest) {
      const auth = parseDeviceAuth(req.headers.authorization);
      const now = ctx.clock.now().getTime();
      if (!auth || Math.abs(now - auth.ts) > timing.deviceSignatureSkewMs) throw new DomainError('device_auth_failed');
      const device = await findDevice(ctx.db, auth.deviceId);
      const key = device?.public_key ? ed25519KeyFromOpenSsh(device.public_key) : null;
      const text = deviceSigningText(req.method, req.url, auth.ts, req.rawBody ?? '');
      if (!key || !verifyDeviceSignature(key, text, auth.signature)) throw new DomainError('device_auth_failed');
      const sigKey = auth.signature.toString('base64');
      if (seen.has(sigKey)) throw new DomainError('device_auth_failed', 'This signed request was already used; sign each request afresh.');
      for (const [k, expiry] of seen) if (expiry < now) seen.delete(k);
      seen.set(sigKey, now + 2 * timing.deviceSignatureSkewMs);
      return auth.deviceId;
    },
  };
}
