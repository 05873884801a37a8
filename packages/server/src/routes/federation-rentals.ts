import {
  EndMessage,
  MovedMessage,
  Guarantee,
  RemoteRentalParams,
  RentalOffer,
  RentalStateMessage,
  Settlement,
  StatementDoc,
  UsageReport,
  federationRentalsPath,
  federationSettlementsPath,
  federationStatementsPath,
  federationUsagePath,
} from '@p2pvps/protocol/federation-rental-schemas';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { PeerRow } from '../db/federation-repo.ts';
import { DomainError } from '../domain/errors.ts';
import type { Federation } from '../federation/federation-service.ts';
import { fieldsFromZod } from './http-errors.ts';

/** A peer's message parsed by its schema, or refused as invalid_request naming the fields. */
function parsed<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new DomainError('invalid_request', `The ${where} is not valid.`, fieldsFromZod(where, result.error));
  return result.data;
}

/**
 * The cross-server rental messages (docs/federation.md), each a signed request verified by
 * routes/federation.ts's preHandler: offers, ends and guarantees from the renter's server;
 * state changes and usage reports from the device's server.
 */
export function federationRentalRoutes(
  app: FastifyInstance,
  federation: Federation,
  preHandler: (req: FastifyRequest) => Promise<void>,
  sender: (req: FastifyRequest) => PeerRow,
): void {
  const rentalId = (req: FastifyRequest) => parsed(RemoteRentalParams, req.params, 'params').rentalId;
  app.post(federationRentalsPath, { preHandler }, (req) =>
    federation.origin.acceptOffer(sender(req), parsed(RentalOffer, req.body, 'body')),
  );
  app.post(`${federationRentalsPath}/:rentalId/end`, { preHandler }, (req) =>
    federation.origin.endFromPeer(sender(req), rentalId(req), parsed(EndMessage, req.body, 'body')),
  );
  app.post(`${federationRentalsPath}/:rentalId/guarantee`, { preHandler }, (req) =>
    federation.origin.guarantee(sender(req), rentalId(req), parsed(Guarantee, req.body, 'body')),
  );
  app.post(`${federationRentalsPath}/:rentalId/moved`, { preHandler }, (req) =>
    federation.remote.receiveMoved(sender(req), rentalId(req), parsed(MovedMessage, req.body, 'body')),
  );
  app.post(`${federationRentalsPath}/:rentalId/state`, { preHandler }, (req) =>
    federation.remote.receiveState(sender(req), rentalId(req), parsed(RentalStateMessage, req.body, 'body')),
  );
  app.post(federationUsagePath, { preHandler }, (req) =>
    federation.remote.receiveUsage(sender(req), req.body as Record<string, unknown>, parsed(UsageReport, req.body, 'body')),
  );
  const raw = (req: FastifyRequest) => req.body as Record<string, unknown>;
  app.post(federationStatementsPath, { preHandler, bodyLimit: 16 * 1024 * 1024 }, (req) =>
    federation.statements.receive(sender(req), raw(req), parsed(StatementDoc, req.body, 'body')),
  );
  app.post(federationSettlementsPath, { preHandler }, (req) =>
    federation.statements.receiveSettlement(sender(req), raw(req), parsed(Settlement, req.body, 'body')),
  );
}
