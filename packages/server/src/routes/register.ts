import type { InputKeys, RouteContract } from '@p2pvps/protocol/routes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { AuthenticatedUser } from '../domain/accounts/accounts.ts';
import { DomainError } from '../domain/errors.ts';
import { fieldsFromZod } from './http-errors.ts';

/** Who made the request, as established by the route's `auth` kind. */
export interface Caller {
  user?: AuthenticatedUser;
  deviceId?: string;
}

export interface Authenticator {
  user(req: FastifyRequest): Promise<AuthenticatedUser>;
  device(req: FastifyRequest): Promise<string>;
}

export type Handler<R extends RouteContract> = (
  input: { [K in InputKeys<R>]: R[K] extends z.ZodType ? z.output<R[K]> : never },
  caller: Caller,
  req: FastifyRequest,
  reply: FastifyReply,
) => Promise<z.input<R['response']>>;

/**
 * Mounts one contract from the protocol route table: authenticate, validate every input
 * against its schema (all problems at once), call the handler, send.
 */
export function mount<R extends RouteContract>(app: FastifyInstance, auth: Authenticator, contract: R, handler: Handler<R>): void {
  app.route({
    method: contract.method,
    url: contract.path,
    handler: async (req, reply) => {
      // Authenticate first: an anonymous caller learns nothing about a route's fields,
      // and only an operator learns that an admin route exists.
      const caller: Caller = {};
      if (contract.auth === 'user' || contract.auth === 'admin') {
        caller.user = await auth.user(req);
        if (contract.auth === 'admin' && !caller.user.user.isAdmin) throw new DomainError('not_found');
      } else if (contract.auth === 'device') {
        caller.deviceId = await auth.device(req);
      }
      const input: Record<string, unknown> = {};
      const fields: Record<string, string> = {};
      for (const part of ['params', 'query', 'body'] as const) {
        const schema = contract[part];
        if (!schema) continue;
        // No body at all means {}; a JSON null is a body, and a wrong one.
        const raw = part === 'body' && req.body === undefined ? {} : req[part];
        const parsed = schema.safeParse(raw);
        if (parsed.success) input[part] = parsed.data;
        else Object.assign(fields, fieldsFromZod(part, parsed.error));
      }
      if (Object.keys(fields).length) throw new DomainError('invalid_request', undefined, fields);
      const result = await handler(input as never, caller, req, reply);
      // A handler that answered in another form (an HTML page for a browser) has sent its reply.
      if (reply.sent) return reply;
      reply.status(contract.status ?? 200);
      return result;
    },
  });
}
