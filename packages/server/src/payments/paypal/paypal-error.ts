import type { ErrorReply } from './schemas.ts';

/**
 * How a call to PayPal failed:
 * - `http`: PayPal answered with an error status (its `name`, `issue` and `debug_id` are set);
 * - `timeout`: no complete answer within the client's `timeoutMs`;
 * - `network`: the connection failed (DNS, refused, reset);
 * - `invalid_response`: a 2xx reply that is not what PayPal documents.
 * `timeout` and `network` leave the outcome unknown: the call may have happened.
 */
export type PayPalErrorKind = 'http' | 'timeout' | 'network' | 'invalid_response';

export interface PayPalErrorInit {
  kind: PayPalErrorKind;
  /** What we were doing, e.g. "capture order 5O190127TN364715T". */
  operation: string;
  status?: number;
  /** PayPal's `name` (UNPROCESSABLE_ENTITY, RESOURCE_NOT_FOUND, …), or the OAuth `error`. */
  paypalName?: string;
  /** The first `details[].issue` (ORDER_NOT_APPROVED, ORDER_ALREADY_CAPTURED, …). */
  issue?: string;
  /** PayPal's `debug_id`: quote it to PayPal support. */
  debugId?: string;
  cause?: unknown;
}

export class PayPalError extends Error {
  override readonly name = 'PayPalError';
  readonly kind: PayPalErrorKind;
  readonly operation: string;
  readonly status: number | undefined;
  readonly paypalName: string | undefined;
  readonly issue: string | undefined;
  readonly debugId: string | undefined;

  constructor(message: string, init: PayPalErrorInit) {
    super(message, { cause: init.cause });
    this.kind = init.kind;
    this.operation = init.operation;
    this.status = init.status;
    this.paypalName = init.paypalName;
    this.issue = init.issue;
    this.debugId = init.debugId;
  }

  /** An error for PayPal's error reply `body` (already parsed, or undefined when it was not JSON). */
  static fromReply(operation: string, status: number, body: ErrorReply | undefined): PayPalError {
    const paypalName = body?.name ?? body?.error;
    const detail = body?.details?.[0];
    const issue = detail?.issue;
    const explanation = detail?.description ?? body?.message ?? body?.error_description ?? 'no explanation given';
    const code = [paypalName, issue].filter(Boolean).join('/') || `HTTP ${status}`;
    const debug = body?.debug_id ? `, debug_id ${body.debug_id}` : '';
    return new PayPalError(`PayPal refused to ${operation}: ${code}: ${explanation} (HTTP ${status}${debug}).`, {
      kind: 'http',
      operation,
      status,
      paypalName,
      issue,
      debugId: body?.debug_id,
    });
  }
}
