import type { Registration } from '@p2pvps/protocol/agent-schemas';
import { routes } from '@p2pvps/protocol/routes';
import { version } from '@p2pvps/protocol/version';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { DomainContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import { accountRoutes } from '../routes/accounts.ts';
import { adminRoutes } from '../routes/admin.ts';
import { dashboardRoutes } from '../routes/dashboard.ts';
import { sessionRoutes } from '../routes/session.ts';
import { agentRoutes } from '../routes/agent.ts';
import { AuthThrottle, type AuthLimits } from '../routes/auth-throttle.ts';
import { createAuthenticator } from '../routes/authenticate.ts';
import { deviceRoutes } from '../routes/devices.ts';
import { reliabilityRoutes } from '../routes/reliability.ts';
import { moneyRoutes } from '../routes/money.ts';
import { mailRoutes } from '../routes/mail.ts';
import { installErrorHandling } from '../routes/http-errors.ts';
import { installRoutes } from '../routes/install.ts';
import { openApiRoute } from '../routes/openapi.ts';
import { mount } from '../routes/register.ts';
import { rentalRoutes } from '../routes/rentals.ts';
import { reviewRoutes } from '../routes/reviews.ts';
import { topUpRoutes } from '../routes/topup.ts';
import { transportSecurityRoutes } from '../routes/transport-security.ts';
import type { PaymentRails } from '../payments/payment-rails.ts';
import type { NodeDirectory } from '../cluster/node-directory.ts';
import type { EventStreams } from '../events/event-streams.ts';
import type { UserEvents } from '../events/user-events.ts';
import type { Federation } from '../federation/federation-service.ts';
import { federationRoutes } from '../routes/federation.ts';
import { federationAdminRoutes } from '../routes/federation-admin.ts';

export interface ApiOptions {
  ctx: DomainContext;
  gateway: Registration['gateway'];
  logLevel: string;
  /** Where the log goes (stdout unless given; tests read it). */
  logStream?: { write(line: string): void };
  /** Prometheus metrics in the text format, served at /metrics to operators (Bearer token of an admin). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** The payment rails the operator enabled; without, only operator credit. */
  rails?: PaymentRails;
  /** How mail goes out, for the operator's settings page (never with credentials). */
  mail?: string;
  /** Whether mail leaves through SMTP or stays in the outbox (no SMTP configured, the default). */
  mailDelivery?: 'smtp' | 'outbox';
  /** Live updates for the dashboard's pages. */
  userEvents?: UserEvents;
  /** Answers to the ACME CA's HTTP-01 challenges, while the server orders its certificate. */
  acmeChallenge?: (token: string) => string | undefined;
  /** Every open event stream, capped and checked again over time. */
  eventStreams: EventStreams;
  /** How long a client may take; the API faces the internet with no proxy in front. */
  timeouts: ApiTimeouts;
  /** Limits on login and signup attempts (defaults: the server's option defaults). */
  authLimits?: AuthLimits;
  /** The cluster's live nodes, for devices to fail over to (cluster/node-directory.ts); none for a single server. */
  nodes?: NodeDirectory;
  /** Federation with peer servers (docs/federation.md): its routes are mounted when given. */
  federation?: Federation;
}

export interface ApiTimeouts {
  /** From the first byte of a request head to its end, for every request on a connection. */
  headMs: number;
  /** From the first byte of a request to the end of its body. */
  requestMs: number;
  /** A connection with no traffic either way for this long is closed, even mid-request. */
  idleMs: number;
}

/** An idle keep-alive connection is closed after this: browsers reuse theirs within seconds, and each holds a slot of its address. */
const keepAliveMs = 30_000;

/** The HTTP API: every route of the protocol table, plus OpenAPI and the dashboards' event streams. */
export function buildApi({
  ctx,
  gateway,
  nodes,
  logLevel,
  logStream,
  metrics,
  rails,
  mail,
  mailDelivery,
  userEvents,
  acmeChallenge,
  eventStreams,
  timeouts,
  authLimits,
  federation,
}: ApiOptions): FastifyInstance {
  const app = Fastify({
    logger: {
      level: logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
      ...(logStream ? { stream: logStream } : {}),
    },
    bodyLimit: 256 * 1024,
    forceCloseConnections: true,
    // Fastify and Node leave these at 0 (none), which assumes a proxy in front. A trickled
    // head or body is answered 408 and closed. Node checks them once a second here.
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: keepAliveMs,
    http: { headersTimeout: Math.min(timeouts.headMs, timeouts.requestMs), connectionsCheckingInterval: 1_000 },
    // Router-level problems (bad URL encoding, over-long parameters) get the envelope too.
    frameworkErrors: (err, _req, reply) => {
      (reply as FastifyReply).status(400).send({ code: 'invalid_request', message: `The request URL is not valid: ${err.message}` });
    },
    // Per-request lines only when debugging: agents heartbeat constantly.
    logController: new LogController({ disableRequestLogging: logLevel !== 'debug' && logLevel !== 'trace' }),
  });
  // Keep the raw body: device requests are signed over it.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    req.rawBody = text;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(Object.assign(new Error('malformed JSON'), { statusCode: 400, malformedJson: true }), undefined);
    }
  });
  app.addHook('onRequest', async (req) => {
    req.raw.socket.setNoDelay(true);
  });
  installErrorHandling(app);
  // First, so its redirect and HSTS hook covers every route below.
  transportSecurityRoutes(app, ctx.settings.publicUrl, acmeChallenge);
  const auth = createAuthenticator(ctx);
  mount(app, auth, routes.serverInfo, async () => ({
    name: ctx.settings.serverName,
    currency: ctx.settings.currency,
    publicUrl: ctx.settings.publicUrl,
    version,
    sshHost: gateway.host,
    gatewayPort: gateway.port,
    rentMinimumHours: ctx.settings.rentMinimumHours,
  }));
  const throttle = new AuthThrottle(
    ctx.clock,
    authLimits ?? { loginsPerAddressPerMinute: 20, loginFailuresPerAccountPerHour: 20, signupsPerAddressPerHour: 20 },
  );
  accountRoutes(app, auth, ctx, throttle);
  sessionRoutes(app, auth, ctx, throttle);
  adminRoutes(app, auth, ctx, { rails, mail: mail ?? 'outbox (no SMTP configured)' });
  mailRoutes(app, auth, ctx, mailDelivery ?? 'outbox');
  deviceRoutes(app, auth, ctx);
  reliabilityRoutes(app, auth, ctx);
  rentalRoutes(app, auth, ctx, federation?.backups.home);
  reviewRoutes(app, auth, ctx);
  moneyRoutes(app, auth, ctx);
  topUpRoutes(app, auth, ctx, rails);
  agentRoutes(app, auth, ctx, gateway, eventStreams, userEvents, nodes, federation?.backups.home);
  if (federation) {
    federationRoutes(app, federation);
    federationAdminRoutes(app, auth, federation);
  }
  openApiRoute(app, version);
  // Outside the JSON API: the agent's installer and code, for `curl PUBLIC_URL/install.sh | sudo bash`.
  installRoutes(app, ctx.settings.publicUrl, auth);
  dashboardRoutes(app, ctx.settings.serverName);
  if (metrics) {
    // Per-device traffic is business data: only operators see it here (a scraper sends an
    // operator's API token), or on the separate --metrics-port listener.
    app.get('/metrics', async (req, reply) => {
      const caller = await auth.user(req);
      if (!caller.user.isAdmin) throw new DomainError('not_found');
      const { contentType, body } = await metrics();
      return reply.type(contentType).send(body);
    });
  }
  return app;
}
