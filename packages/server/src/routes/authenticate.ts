import {
  deviceAuthAudience,
  deviceSigningText,
  ed25519KeyFromOpenSsh,
  legacyDeviceSigningText,
  parseDeviceAuth,
  verifyDeviceSignature,
} from '@p2pvps/protocol/device-auth';
import { timing } from '@p2pvps/protocol/timing';
import type { FastifyRequest } from 'fastify';
import { advanceDeviceSignedTs, deviceSignedTs, findDevice } from '../db/devices-repo.ts';
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
  // Signatures name the server they are for: its public origin, as the agents' server URL has it.
  const audience = deviceAuthAudience(ctx.settings.publicUrl);
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
    /**
     * Each failure has its own code, because the agent acts on them differently: only
     * device_revoked may make it wipe (after confirming it); a wrong clock, a replay or a
     * bad signature never does.
     */
    async device(req: FastifyRequest) {
      const auth = parseDeviceAuth(req.headers.authorization);
      if (!auth) throw new DomainError('device_auth_failed');
      const device = await findDevice(ctx.db, auth.deviceId);
      const key = device?.public_key ? ed25519KeyFromOpenSsh(device.public_key) : null;
      // Removed, or waiting for a new enrolment: the key this device signs with is gone for good.
      if (!key) throw new DomainError('device_revoked');
      const body = req.rawBody ?? '';
      if (!verifyDeviceSignature(key, deviceSigningText(audience, req.method, req.url, auth.ts, body), auth.signature)) {
        if (verifyDeviceSignature(key, legacyDeviceSigningText(req.method, req.url, auth.ts, body), auth.signature))
          throw new DomainError('device_agent_outdated');
        throw new DomainError('device_auth_failed');
      }
      const now = ctx.clock.now().getTime();
      if (Math.abs(now - auth.ts) > timing.deviceSignatureSkewMs)
        throw new DomainError('device_clock_skew', undefined, undefined, new Date(now).toISOString());
      if (!(await advanceDeviceSignedTs(ctx.db, auth.deviceId, auth.ts)))
        throw new DomainError('device_replay', undefined, undefined, String((await deviceSignedTs(ctx.db, auth.deviceId)) ?? ''));
      return auth.deviceId;
    },
  };
}
