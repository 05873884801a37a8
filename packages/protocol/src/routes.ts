import { z } from 'zod';
import { BenchmarkResultBody, HardwareVerification } from './benchmark.ts';
import {
  ApiTokenBody,
  ApiTokens,
  AdminDevices,
  AdminRentals,
  AdminUsers,
  BrowserSession,
  CreatedApiToken,
  ExtendBody,
  PasswordChangeBody,
  SavedSshKey,
  SavedSshKeys,
  ServerSettings,
  SessionBody,
  SshKeyBody,
  SshKeyParams,
  TokenParams,
  Sessions,
  SessionParams,
  VerifyEmailBody,
  VerifiedEmail,
  AddDeviceBody,
  Balance,
  CreditBody,
  CreditResult,
  Earnings,
  LedgerTotals,
  Payout,
  PayoutBody,
  PayoutPaidBody,
  PayoutParams,
  Payouts,
  PayoutsQuery,
  Statement,
  StatementQuery,
  AdminListQuery,
  Next,
  Credentials,
  Device,
  DeviceParams,
  Empty,
  EnrolmentTokenGrant,
  Listing,
  MarketQuery,
  Ok,
  RentBody,
  Rental,
  RentalParams,
  RentalsQuery,
  ServerInfo,
  Session,
  UpdateDeviceBody,
  User,
  TopUpRails,
  PayPalTopUpBody,
  PayPalTopUp,
  PayPalReturnQuery,
  PayPalTopUpResult,
  PayPalWebhookBody,
  PayPalWebhookResult,
  DepositAddress,
  ExchangeRateBody,
  ExchangeRate,
  AccountSettings,
  UpdateSettingsBody,
  Outbox,
  OutboxQuery,
} from './schemas.ts';
import { AgentInstall, HeartbeatBody, HeartbeatReply, RegisterBody, Registration } from './agent-schemas.ts';

/**
 * The API contract: one entry per route. The server validates with these schemas and
 * generates its OpenAPI document from them; the client uses them to type its calls.
 */
export type Auth = 'none' | 'user' | 'admin' | 'device';

export interface RouteContract {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  summary: string;
  auth: Auth;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response: z.ZodType;
  status?: number;
}

const route = <const R extends RouteContract>(r: R): R => r;

export const routes = {
  serverInfo: route({
    method: 'GET',
    path: '/api/v1/server',
    summary: 'Who this server is and where devices and renters connect.',
    auth: 'none',
    response: ServerInfo,
  }),
  signup: route({
    method: 'POST',
    path: '/api/v1/auth/signup',
    summary: 'Create an account and get an API token.',
    auth: 'none',
    body: Credentials,
    response: Session,
    status: 201,
  }),
  login: route({
    method: 'POST',
    path: '/api/v1/auth/login',
    summary: 'Exchange email and password for an API token.',
    auth: 'none',
    body: Credentials,
    response: Session,
  }),
  logout: route({
    method: 'POST',
    path: '/api/v1/auth/logout',
    summary: 'Revoke the API token used for this request.',
    auth: 'user',
    body: Empty,
    response: Ok,
  }),
  me: route({ method: 'GET', path: '/api/v1/me', summary: 'The account behind the API token.', auth: 'user', response: User }),

  // Browser sessions (the dashboard): an HttpOnly cookie plus a CSRF token for changes.
  startSession: route({
    method: 'POST',
    path: '/api/v1/auth/session',
    summary: 'Log a browser in (or sign up with signup: true): sets the session cookie; send csrfToken as X-CSRF-Token on changes.',
    auth: 'none',
    body: SessionBody,
    response: BrowserSession,
  }),
  getSession: route({
    method: 'GET',
    path: '/api/v1/auth/session',
    summary: 'The browser session behind the cookie, with its CSRF token.',
    auth: 'user',
    response: BrowserSession,
  }),
  endSession: route({
    method: 'POST',
    path: '/api/v1/auth/session/end',
    summary: 'Log the browser out: the session ends and its cookie is cleared.',
    auth: 'user',
    body: Empty,
    response: Ok,
  }),
  getSettings: route({
    method: 'GET',
    path: '/api/v1/me/settings',
    summary: 'Your account settings (what the server mails you).',
    auth: 'user',
    response: AccountSettings,
  }),
  updateSettings: route({
    method: 'PATCH',
    path: '/api/v1/me/settings',
    summary: 'Change your account settings; fields left out stay as they are.',
    auth: 'user',
    body: UpdateSettingsBody,
    response: AccountSettings,
  }),
  changePassword: route({
    method: 'POST',
    path: '/api/v1/me/password',
    summary: 'Change your password; every other session and API token is revoked.',
    auth: 'user',
    body: PasswordChangeBody,
    response: Ok,
  }),
  listApiTokens: route({
    method: 'GET',
    path: '/api/v1/me/tokens',
    summary: 'Your API tokens (not browser sessions), by name.',
    auth: 'user',
    response: ApiTokens,
  }),
  createApiToken: route({
    method: 'POST',
    path: '/api/v1/me/tokens',
    summary: 'Create a named API token; it is shown this once.',
    auth: 'user',
    body: ApiTokenBody,
    response: CreatedApiToken,
    status: 201,
  }),
  revokeApiToken: route({
    method: 'POST',
    path: '/api/v1/me/tokens/:tokenId/revoke',
    summary: 'Revoke one of your API tokens.',
    auth: 'user',
    params: TokenParams,
    body: Empty,
    response: Ok,
  }),
  listSessions: route({
    method: 'GET',
    path: '/api/v1/me/sessions',
    summary: 'Your browser sessions (where the dashboard is logged in); each ends 30 days after login or a week after its last use.',
    auth: 'user',
    response: Sessions,
  }),
  revokeSession: route({
    method: 'POST',
    path: '/api/v1/me/sessions/:sessionId/revoke',
    summary: 'End one of your browser sessions; that browser is logged out.',
    auth: 'user',
    params: SessionParams,
    body: Empty,
    response: Ok,
  }),
  verifyEmail: route({
    method: 'POST',
    path: '/api/v1/auth/verify-email',
    summary: 'Confirm an email address with the token from the link mailed to it (no login needed).',
    auth: 'none',
    body: VerifyEmailBody,
    response: VerifiedEmail,
  }),
  resendEmailVerification: route({
    method: 'POST',
    path: '/api/v1/me/verify-email',
    summary: 'Mail a new confirmation link to your address (at most one a minute; nothing if it is confirmed).',
    auth: 'user',
    body: Empty,
    response: Ok,
  }),
  listSshKeys: route({
    method: 'GET',
    path: '/api/v1/me/ssh-keys',
    summary: 'The public SSH keys saved on your account, to pick when renting.',
    auth: 'user',
    response: SavedSshKeys,
  }),
  addSshKey: route({
    method: 'POST',
    path: '/api/v1/me/ssh-keys',
    summary: 'Save a public SSH key on your account.',
    auth: 'user',
    body: SshKeyBody,
    response: SavedSshKey,
    status: 201,
  }),
  removeSshKey: route({
    method: 'POST',
    path: '/api/v1/me/ssh-keys/:keyId/remove',
    summary: 'Remove a saved public SSH key (rentals that use it keep it).',
    auth: 'user',
    params: SshKeyParams,
    body: Empty,
    response: Ok,
  }),

  listDevices: route({
    method: 'GET',
    path: '/api/v1/devices',
    summary: 'Devices you own.',
    auth: 'user',
    response: z.object({ devices: z.array(Device) }),
  }),
  addDevice: route({
    method: 'POST',
    path: '/api/v1/devices',
    summary: 'Add a device; the one-time enrolment token is in the reply and never shown again.',
    auth: 'user',
    body: AddDeviceBody,
    response: EnrolmentTokenGrant,
    status: 201,
  }),
  getDevice: route({
    method: 'GET',
    path: '/api/v1/devices/:deviceId',
    summary: 'One of your devices.',
    auth: 'user',
    params: DeviceParams,
    response: Device,
  }),
  updateDevice: route({
    method: 'PATCH',
    path: '/api/v1/devices/:deviceId',
    summary: 'Rename, reprice, or put a device on or off the market.',
    auth: 'user',
    params: DeviceParams,
    body: UpdateDeviceBody,
    response: Device,
  }),
  removeDevice: route({
    method: 'DELETE',
    path: '/api/v1/devices/:deviceId',
    summary: 'Remove a device and release its port.',
    auth: 'user',
    params: DeviceParams,
    response: Ok,
  }),
  reissueEnrolmentToken: route({
    method: 'POST',
    path: '/api/v1/devices/:deviceId/enrolment-token',
    summary: 'Issue a new enrolment token for a device (re-enrolment); the old key stops working.',
    auth: 'user',
    params: DeviceParams,
    body: Empty,
    response: EnrolmentTokenGrant,
    status: 201,
  }),

  market: route({
    method: 'GET',
    path: '/api/v1/market',
    summary: 'Devices for rent: online, priced and on the market.',
    auth: 'none',
    query: MarketQuery,
    response: z.object({ listings: z.array(Listing), next: Next }),
  }),

  rent: route({
    method: 'POST',
    path: '/api/v1/rentals',
    summary: 'Rent a listed device.',
    auth: 'user',
    body: RentBody,
    response: Rental,
    status: 201,
  }),
  listRentals: route({
    method: 'GET',
    path: '/api/v1/rentals',
    summary: 'Your rentals (open ones unless all=true).',
    auth: 'user',
    query: RentalsQuery,
    response: z.object({ rentals: z.array(Rental), next: Next }),
  }),
  getRental: route({
    method: 'GET',
    path: '/api/v1/rentals/:rentalId',
    summary: 'One of your rentals, with its connection details.',
    auth: 'user',
    params: RentalParams,
    response: Rental,
  }),
  extendRental: route({
    method: 'POST',
    path: '/api/v1/rentals/:rentalId/extend',
    summary: 'Add hours to a prepaid rental: their price is held from your balance and the expiry moves on.',
    auth: 'user',
    params: RentalParams,
    body: ExtendBody,
    response: Rental,
  }),
  stopRental: route({
    method: 'POST',
    path: '/api/v1/rentals/:rentalId/stop',
    summary: 'Stop a rental; its container is destroyed and wiped.',
    auth: 'user',
    params: RentalParams,
    body: Empty,
    response: Rental,
  }),

  getBalance: route({
    method: 'GET',
    path: '/api/v1/balance',
    summary: 'Your balance for renting and your devices’ earnings.',
    auth: 'user',
    response: Balance,
  }),
  getStatement: route({
    method: 'GET',
    path: '/api/v1/statement',
    summary: 'Every movement on your balance and earnings, oldest first (order=desc: newest first), a page at a time.',
    auth: 'user',
    query: StatementQuery,
    response: Statement,
  }),
  adminCredit: route({
    method: 'POST',
    path: '/api/v1/admin/credit',
    summary: 'Operator: grant credit to a user (or take some back with a negative amount).',
    auth: 'admin',
    body: CreditBody,
    response: CreditResult,
  }),
  getEarnings: route({
    method: 'GET',
    path: '/api/v1/earnings',
    summary: 'What your devices have earned, per device and per rental, and where the money is now.',
    auth: 'user',
    response: Earnings,
  }),
  listPayouts: route({
    method: 'GET',
    path: '/api/v1/payouts',
    summary: 'Your payout requests, newest first.',
    auth: 'user',
    response: Payouts,
  }),
  requestPayout: route({
    method: 'POST',
    path: '/api/v1/payouts',
    summary: 'Ask the operator to pay out some of your earnings; the amount is set aside at once.',
    auth: 'user',
    body: PayoutBody,
    response: Payout,
  }),
  cancelPayout: route({
    method: 'POST',
    path: '/api/v1/payouts/:payoutId/cancel',
    summary: 'Cancel a payout the operator has not started paying; the amount returns to your earnings.',
    auth: 'user',
    params: PayoutParams,
    body: Empty,
    response: Payout,
  }),
  adminPayouts: route({
    method: 'GET',
    path: '/api/v1/admin/payouts',
    summary: 'Operator: payout requests (all, or in one state), newest first.',
    auth: 'admin',
    query: PayoutsQuery,
    response: Payouts,
  }),
  adminStartPayout: route({
    method: 'POST',
    path: '/api/v1/admin/payouts/:payoutId/start',
    summary: 'Operator: claim a requested payout to pay it now; from then on its owner cannot cancel it.',
    auth: 'admin',
    params: PayoutParams,
    body: Empty,
    response: Payout,
  }),
  adminPayoutPaid: route({
    method: 'POST',
    path: '/api/v1/admin/payouts/:payoutId/paid',
    summary: 'Operator: record a started payout as made, with the rail it went by and its reference there.',
    auth: 'admin',
    params: PayoutParams,
    body: PayoutPaidBody,
    response: Payout,
  }),
  adminCancelPayout: route({
    method: 'POST',
    path: '/api/v1/admin/payouts/:payoutId/cancel',
    summary: 'Operator: cancel a payout not yet paid; the amount returns to the owner’s earnings.',
    auth: 'admin',
    params: PayoutParams,
    body: Empty,
    response: Payout,
  }),
  adminUsers: route({
    method: 'GET',
    path: '/api/v1/admin/users',
    summary: 'Operator: every account with its balance, earnings, devices and open rentals, a page at a time.',
    auth: 'admin',
    query: AdminListQuery,
    response: AdminUsers,
  }),
  adminDevices: route({
    method: 'GET',
    path: '/api/v1/admin/devices',
    summary: 'Operator: every device that is not removed, with its owner, a page at a time.',
    auth: 'admin',
    query: AdminListQuery,
    response: AdminDevices,
  }),
  adminRentals: route({
    method: 'GET',
    path: '/api/v1/admin/rentals',
    summary: 'Operator: the newest 500 rentals, with renter and owner (no credentials).',
    auth: 'admin',
    response: AdminRentals,
  }),
  adminSettings: route({
    method: 'GET',
    path: '/api/v1/admin/settings',
    summary: 'Operator: the settings this server runs with (no secrets).',
    auth: 'admin',
    response: ServerSettings,
  }),
  adminOutbox: route({
    method: 'GET',
    path: '/api/v1/admin/outbox',
    summary: 'Operator: the mails the server sent or holds (newest first); without SMTP they wait here to be read.',
    auth: 'admin',
    query: OutboxQuery,
    response: Outbox,
  }),
  adminLedger: route({
    method: 'GET',
    path: '/api/v1/admin/ledger',
    summary: 'Operator: the balance of each kind of ledger account, and their sum (always zero).',
    auth: 'admin',
    response: LedgerTotals,
  }),

  adminSetRate: route({
    method: 'POST',
    path: '/api/v1/admin/rates',
    summary:
      "Operator: set a chain coin's exchange rate (good for --rate-max-age-minutes; a jump past --rate-band-percent is held until set again).",
    auth: 'admin',
    body: ExchangeRateBody,
    response: ExchangeRate,
  }),

  // Payment rails: top-ups from outside, each rail on only when the operator enabled it (--rails).
  topUpRails: route({
    method: 'GET',
    path: '/api/v1/topup',
    summary: 'The ways to top up your balance on this server, with their rates and confirmations.',
    auth: 'none',
    response: TopUpRails,
  }),
  startPayPalTopUp: route({
    method: 'POST',
    path: '/api/v1/topup/paypal',
    summary: 'Start a PayPal top-up: open the approve URL in a browser and pay; the balance is credited when PayPal sends you back.',
    auth: 'user',
    body: PayPalTopUpBody,
    response: PayPalTopUp,
    status: 201,
  }),
  completePayPalTopUp: route({
    method: 'GET',
    path: '/api/v1/topup/paypal/return',
    summary: 'Where PayPal sends the payer back: captures the payment and credits it (an HTML page for browsers).',
    auth: 'none',
    query: PayPalReturnQuery,
    response: PayPalTopUpResult,
  }),
  payPalWebhook: route({
    method: 'POST',
    path: '/api/v1/topup/paypal/webhook',
    summary: 'PayPal webhooks (verified with PayPal): credits captures whose payer never came back.',
    auth: 'none',
    body: PayPalWebhookBody,
    response: PayPalWebhookResult,
  }),
  ethereumDepositAddress: route({
    method: 'POST',
    path: '/api/v1/topup/ethereum',
    summary: 'Ask to top up by Ethereum: your own deposit address (ETH and the configured token), the same one each time.',
    auth: 'user',
    response: DepositAddress,
  }),
  bitcoinDepositAddress: route({
    method: 'POST',
    path: '/api/v1/topup/bitcoin',
    summary: 'Ask to top up by Bitcoin: your own deposit address, the same one each time, watched for payments from now on.',
    auth: 'user',
    response: DepositAddress,
  }),

  agentInstall: route({
    method: 'GET',
    path: '/api/v1/agent/install',
    summary: "The command that installs the agent on a device, with the SHA-256 of the agent's code it checks.",
    auth: 'none',
    response: AgentInstall,
  }),
  agentRegister: route({
    method: 'POST',
    path: '/api/v1/agent/register',
    summary: 'A device exchanges its enrolment token for an identity bound to its key.',
    auth: 'none',
    body: RegisterBody,
    response: Registration,
    status: 201,
  }),
  agentHeartbeat: route({
    method: 'POST',
    path: '/api/v1/agent/heartbeat',
    summary: 'A device reports what it runs and learns what it should run.',
    auth: 'device',
    body: HeartbeatBody,
    response: HeartbeatReply,
  }),
  agentBenchmark: route({
    method: 'POST',
    path: '/api/v1/agent/benchmark',
    summary: "A device posts its signed benchmark for the server's challenge; the server times the tunnel and checks the claims.",
    auth: 'device',
    body: BenchmarkResultBody,
    response: HardwareVerification,
  }),
} as const;

export type Routes = typeof routes;
export type RouteName = keyof Routes;

/** The whole statement as CSV, oldest first, streamed (not JSON, so outside the table); same auth as getStatement. */
export const statementCsvPath = '/api/v1/statement.csv';

/** Server-sent event stream for agents (not JSON, so outside the table). */
export const agentEventsPath = '/api/v1/agent/events';
export const openApiPath = '/api/v1/openapi.json';

type Input<S> = S extends z.ZodType ? z.input<S> : undefined;
export type InputKeys<R extends RouteContract> = { [K in 'params' | 'query' | 'body']: R[K] extends z.ZodType ? K : never }[
  'params' | 'query' | 'body'];
/** Inputs a route takes; those that may be empty (like a body of `{}`) are optional. */
export type RouteInput<R extends RouteContract> = {
  [K in InputKeys<R> as {} extends Input<R[K]> ? never : K]: Input<R[K]>;
} & {
  [K in InputKeys<R> as {} extends Input<R[K]> ? K : never]?: Input<R[K]>;
};
export type RouteOutput<R extends RouteContract> = z.output<R['response']>;

/** Fills `:name` segments of a route path. */
export function buildPath(path: string, params: Record<string, string> = {}): string {
  return path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
}
