import { errorCodes, type ErrorCode } from '@p2pvps/protocol/errors';

/** A rule was broken (by a request or in the domain). Carries a stable code from protocol; the API maps it to HTTP. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = errorCodes[code].message,
    readonly fields?: Record<string, string>,
    /** Machine-readable context for the client, e.g. the server's time for device_clock_skew. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** The caller should try again after `retryAfterSeconds` (rate limits, a full queue): the API sends it as Retry-After. */
export class RetryLaterError extends DomainError {
  constructor(
    code: ErrorCode,
    readonly retryAfterSeconds: number,
    message?: string,
  ) {
    super(code, message);
    this.name = 'RetryLaterError';
  }
}
