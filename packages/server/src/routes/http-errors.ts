import { errorCodes, type ApiErrorBody, type ErrorCode } from '@p2pvps/protocol/errors';
import type { FastifyError, FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DomainError, RetryLaterError } from '../domain/errors.ts';

export function fieldsFromZod(where: string, error: z.ZodError): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    const path = [where, ...issue.path.map(String)].filter(Boolean).join('.');
    fields[path || where] ??= issue.message;
  }
  return fields;
}

function envelope(code: ErrorCode, message?: string, fields?: Record<string, string>, detail?: string): ApiErrorBody {
  return {
    code,
    message: message ?? errorCodes[code].message,
    ...(detail !== undefined ? { detail } : {}),
    ...(fields && Object.keys(fields).length ? { fields } : {}),
  };
}

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
};

/** Every error leaves as the one envelope; unknown ones are logged and hidden. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    if (err instanceof RetryLaterError) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
    if (err instanceof DomainError) {
      return reply.status(errorCodes[err.code].status).send(envelope(err.code, err.message, err.fields, err.detail));
    }
    const fe = err as FastifyError & { malformedJson?: boolean };
    if (fe.malformedJson) return reply.status(400).send(envelope('malformed_json'));
    const mapped = fe.code ? fastifyCodes[fe.code] : undefined;
    if (mapped) return reply.status(errorCodes[mapped].status).send(envelope(mapped));
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send(envelope('invalid_request', fe.message));
    }
    req.log.error({ err }, 'unhandled error');
    return reply.status(500).send(envelope('internal_error'));
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .status(404)
      .send(envelope('route_not_found', `There is no API route ${req.method} ${req.url.split('?')[0]}; see /api/v1/openapi.json.`));
  });
}
