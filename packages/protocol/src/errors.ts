import { z } from 'zod';

/**
 * Every error code the API can return, with its HTTP status and a default message.
 * Codes are stable: clients and scripts branch on them. docs/errors.md lists each one
 * (a test fails when one is missing there).
 */
export const errorCodes = {
  invalid_request: { status: 400, message: 'The request is not valid; see "fields" for what to fix.' },
  malformed_json: { status: 400, message: 'The request body is not valid JSON.' },
  unsupported_media_type: { status: 415, message: 'Send the request body as application/json.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  too_many_streams: {
    status: 429,
    message: 'Too many live-update streams are open (per user, or on the whole server); close one and try again.',
  },
  unauthenticated: { status: 401, message: 'Log in first: this request needs a valid API token.' },
  invalid_credentials: { status: 401, message: 'The email or password is wrong.' },
  device_auth_failed: { status: 401, message: 'The device signature is missing, expired or does not match the device key.' },
  device_clock_skew: {
    status: 401,
    message: "The device's clock is too far from the server's; \"detail\" holds the server's time, sign again with it.",
  },
  device_replay: {
    status: 401,
    message: 'This signed request is not newer than one already accepted; sign it afresh. "detail" holds the last accepted timestamp.',
  },
  device_revoked: {
    status: 401,
    message: 'The server no longer knows this device key: the device was removed or given a new enrolment token.',
  },
  device_agent_outdated: {
    status: 426,
    message: 'This agent signs its requests in a format the server no longer accepts; update it (run the install command again).',
  },
  csrf_failed: {
    status: 403,
    message: 'This change did not come with the session’s CSRF token; reload the page and try again.',
  },
  not_found: { status: 404, message: 'There is nothing here, or you may not see it.' },
  route_not_found: { status: 404, message: 'There is no such API route; see /api/v1/openapi.json.' },
  email_taken: { status: 409, message: 'An account with this email already exists; log in instead.' },
  enrolment_token_invalid: {
    status: 401,
    message: 'The enrolment token is unknown, already used or expired; add the device again to get a new one.',
  },
  package_refused: { status: 409, message: "This device's owner does not allow that deployment package on it." },
  device_key_taken: { status: 409, message: 'This device key is already enrolled; generate a new key or remove the old device.' },
  device_not_listed: {
    status: 409,
    message: 'This device is not on the market right now: it is offline, rented, unpriced or withdrawn by its owner.',
  },
  device_rented: { status: 409, message: 'The device has an open rental; stop it before removing the device.' },
  own_device: { status: 409, message: 'You cannot rent your own device.' },
  maintenance_window_refused: {
    status: 409,
    message:
      'A maintenance window must start at least 1 h ahead, last 15 min to 8 h, not overlap another, and at most 8 may be open at once.',
  },
  maintenance_overlaps_rental: {
    status: 409,
    message: 'The device has an open rental that may still run then; a rental in progress is never interrupted by maintenance.',
  },
  rental_not_open: { status: 409, message: 'The rental has already ended.' },
  rental_not_encrypted: { status: 409, message: 'This rental’s storage is not encrypted, so there is nothing to unlock.' },
  insufficient_balance: { status: 402, message: 'Your balance is too low for this; top up first.' },
  insufficient_earnings: { status: 409, message: 'Your devices have not earned that much (not yet paid out or requested).' },
  payout_not_open: { status: 409, message: 'The payout has already been paid or cancelled.' },
  port_range_exhausted: { status: 503, message: 'No public SSH port is free on this server; the operator must widen the port range.' },
  payment_rail_disabled: { status: 404, message: 'This server does not take payments that way; GET /api/v1/topup lists the ways it does.' },
  payment_not_approved: { status: 409, message: 'The payment has not been approved at PayPal yet; approve it there first.' },
  payment_not_completed: { status: 409, message: 'The payment provider has not completed the payment; nothing was credited yet.' },
  payment_provider_unavailable: {
    status: 502,
    message: 'The payment provider could not be reached or refused the request; try again shortly.',
  },
  webhook_rejected: { status: 400, message: 'The webhook is not verifiably from the payment provider; nothing was changed.' },
  payment_requests_throttled: { status: 429, message: 'Too many payment requests are being checked right now; try again in a minute.' },
  exchange_rate_unavailable: {
    status: 503,
    message: 'This rail has no current exchange rate the operator vouches for, so it neither quotes nor credits; try again later.',
  },
  rate_limited: {
    status: 429,
    message: 'Too many attempts from your address or for this account; wait as long as Retry-After says, then try again.',
  },
  server_busy: { status: 503, message: 'The server is busy checking other passwords; try again in a second (see Retry-After).' },
  too_many_pending_devices: {
    status: 409,
    message: 'You have too many devices awaiting enrolment; enrol one (or remove one) before adding another.',
  },
  verification_token_invalid: {
    status: 400,
    message: 'The email verification link is unknown, already used or expired; ask for a new one from your account page.',
  },
  rental_not_ended: { status: 409, message: 'This rental is still running; rate it once it has ended.' },
  rental_not_rateable: {
    status: 409,
    message: 'Only a rental whose container ran and that was paid for can be rated.',
  },
  already_rated: { status: 409, message: 'You have already rated this rental; a rental is rated once.' },
  already_answered: { status: 409, message: 'This rating already has your answer; a rating is answered once.' },
  dispute_exists: { status: 409, message: 'There is already a dispute about this rental; see it with p2pvps disputes.' },
  dispute_window_closed: {
    status: 409,
    message: 'This rental ended more than 14 days ago; it can no longer be disputed.',
  },
  dispute_not_open: { status: 409, message: 'This dispute has already been resolved.' },
  refund_exceeds_paid: { status: 409, message: 'A refund cannot be more than what the renter paid for the rental.' },
  benchmark_nonce_unknown: {
    status: 409,
    message:
      'The server never issued this benchmark challenge to this device, or it expired; wait for the next heartbeat to bring a new one.',
  },
  benchmark_nonce_used: {
    status: 409,
    message: 'A result for this benchmark challenge was already accepted; an old result cannot be posted again.',
  },
  benchmark_signature_invalid: {
    status: 400,
    message: 'The benchmark result is not signed by this device key over this challenge and these figures.',
  },
  federation_bad_signature: {
    status: 401,
    message:
      'The server-to-server request has no valid HTTP message signature (Signature-Input, Signature) over its method, target, origin and body digest.',
  },
  federation_unknown_peer: { status: 403, message: 'This server is not linked with the sending server; its operator must link it first.' },
  federation_peer_suspended: { status: 403, message: 'This server’s operator has suspended the link with the sending server.' },
  federation_wrong_key: {
    status: 401,
    message: 'The request is signed with a key the sending server neither pinned nor published as a rotation of its pinned key.',
  },
  federation_wrong_origin: { status: 403, message: 'The request names an origin server that does not own the key it is signed with.' },
  federation_digest_mismatch: { status: 400, message: 'The request body does not match its Content-Digest.' },
  federation_clock_skew: { status: 401, message: 'The signature’s creation time is too far from this server’s clock; sign again.' },
  federation_replay: { status: 401, message: 'This signed request (its nonce) was already accepted; a request is accepted once.' },
  federation_listing_forged: {
    status: 422,
    message: 'A listing’s signature does not verify under its home server’s key; the whole message is refused.',
  },
  federation_foreign_listing: {
    status: 403,
    message: 'A peer sent a listing whose home server is not itself: a server may only publish its own devices.',
  },
  federation_fingerprint_mismatch: {
    status: 409,
    message: 'The peer’s published key does not have the fingerprint you gave; check it with the peer’s operator before linking.',
  },
  federation_peer_unreachable: {
    status: 502,
    message: 'The peer server could not be reached, or did not publish a valid server document.',
  },
  federation_peer_exists: { status: 409, message: 'This peer is already linked; suspend, resume or unlink it instead.' },
  federation_not_backup: {
    status: 403,
    message:
      'This server does not back up that device: its operator has not agreed to back up the sending server, or the device is not in its last snapshot.',
  },
  federation_currency_mismatch: {
    status: 409,
    message: 'The peer prices in another currency; servers link only when they share one, so no exchange rate enters a statement.',
  },
  federation_terms_changed: {
    status: 409,
    message: 'The device’s price is no longer the one offered; look at the market again and rent at the price shown now.',
  },
  federation_credit_exceeded: {
    status: 402,
    message: 'The renter’s server owes this server more than the limit its operator set; new rentals wait until it settles.',
  },
  federation_statement_mismatch: {
    status: 422,
    message: 'The statement does not match the signed reports and settlements this server holds; it is refused.',
  },
  federation_usage_out_of_order: {
    status: 409,
    message:
      'The usage report does not follow the last one accepted for this rental (its seq or previousHash); send the missing one first.',
  },
  federation_device_unavailable: {
    status: 409,
    message:
      'That device cannot take a new rental through this server now: it is rented, offline, off the market, homed elsewhere, or served by a backup server while its home server is away.',
  },
  internal_error: { status: 500, message: 'Something went wrong on the server; the operator can find details in its log.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCodes;
export const errorCodeList = Object.keys(errorCodes) as ErrorCode[];

/** The one error envelope every API error uses. */
export const ApiErrorBody = z.object({
  code: z.string(),
  message: z.string(),
  detail: z.string().optional(),
  fields: z.record(z.string(), z.string()).optional(),
});
export type ApiErrorBody = z.infer<typeof ApiErrorBody>;
