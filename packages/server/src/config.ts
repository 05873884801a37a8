import { opt, parseOptions, type OptionValues } from '@p2pvps/protocol/options';
import { timing } from '@p2pvps/protocol/timing';
import { nodeDirectoryOptions } from './cluster/node-directory.ts';
import { railOptions, railProblems } from './payments/rail-options.ts';
import { tlsOptions, tlsProblems } from './frontdoor/tls-options.ts';
import { secretFile } from './secret-file-option.ts';
import { defaultAppPackagesDir } from './services/app-catalogue.ts';
import { clusterOptions, clusterProblems } from './cluster/cluster-options.ts';
import { federationOptions } from './federation/federation-options.ts';
import type { PenaltyPolicy } from './gateway/source-penalties.ts';

/** Every server option, declared once. */
export const serverOptions = {
  dataDir: {
    flag: 'data-dir',
    env: 'P2PVPS_DATA_DIR',
    description: 'Where the database, host key and admin password live.',
    schema: opt.string(),
    default: '.data/server',
  },
  appPackagesDir: {
    flag: 'app-packages-dir',
    env: 'P2PVPS_APP_PACKAGES_DIR',
    description: "Where the deployment packages' recipes are (NAME.json each, docs/packages.md); every file is checked at start.",
    schema: opt.string(),
    default: defaultAppPackagesDir,
  },
  databaseUrl: {
    flag: 'database-url',
    env: 'P2PVPS_DATABASE_URL',
    description: 'sqlite:PATH (default: a file in the data dir), or postgres://USER@HOST:PORT/DB (several server nodes may share one).',
    schema: opt.string().regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:PATH or postgres://USER@HOST:PORT/DB'),
    default: (v: Record<string, unknown>) => `sqlite:${v.dataDir}/p2pvps.sqlite`,
  },
  httpHost: {
    flag: 'http-host',
    env: 'P2PVPS_HTTP_HOST',
    description: 'Address the HTTP API binds to.',
    schema: opt.string(),
    default: '127.0.0.1',
  },
  httpPort: {
    flag: 'http-port',
    env: 'P2PVPS_HTTP_PORT',
    description: "HTTP front door: the API on the server's own name, port 80 of a rented device on the device's name.",
    schema: opt.port(),
    default: '8080',
  },
  httpsPort: {
    flag: 'https-port',
    env: 'P2PVPS_HTTPS_PORT',
    description:
      "HTTPS front door: the API on the server's own name (with --tls-cert or --acme-directory-url), TLS passed through by SNI name to port 443 of a rented device.",
    schema: opt.port(),
    default: '8443',
  },
  webDomain: {
    flag: 'web-domain',
    env: 'P2PVPS_WEB_DOMAIN',
    description: 'Devices are reachable on the web as NAME.web-domain (point a wildcard DNS record at this server).',
    schema: opt
      .string()
      .regex(
        /^(?=.{1,200}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
        'must be a lower-case DNS name like vps.example.org',
      ),
    default: 'vps.localhost',
  },
  maxConnections: {
    flag: 'max-connections',
    env: 'P2PVPS_MAX_CONNECTIONS',
    description: 'Connections open through the HTTP and HTTPS front doors at once, in total.',
    schema: opt.positiveInt(),
    default: '10000',
  },
  maxConnectionsPerDevice: {
    flag: 'max-connections-per-device',
    env: 'P2PVPS_MAX_CONNECTIONS_PER_DEVICE',
    description: 'Visitor connections to one device at once, per front door and on its SSH port.',
    schema: opt.positiveInt(),
    default: '256',
  },
  headTimeoutMs: {
    flag: 'head-timeout-ms',
    env: 'P2PVPS_HEAD_TIMEOUT_MS',
    description: 'Time a visitor has to send its request head or TLS ClientHello.',
    schema: opt.positiveInt(),
    default: '10000',
  },
  idleTimeoutMs: {
    flag: 'idle-timeout-ms',
    env: 'P2PVPS_IDLE_TIMEOUT_MS',
    description: 'A front-door connection with no traffic either way for this long is closed.',
    schema: opt.positiveInt(),
    default: '300000',
  },
  maxConnectionsPerAddress: {
    flag: 'max-connections-per-address',
    env: 'P2PVPS_MAX_CONNECTIONS_PER_ADDRESS',
    description: 'Connections from one source (an IPv4 address, an IPv6 /64) through the front doors at once, the API included.',
    schema: opt.positiveInt(),
    default: '128',
  },
  maxConnectionsPerDeviceAddress: {
    flag: 'max-connections-per-device-address',
    env: 'P2PVPS_MAX_CONNECTIONS_PER_DEVICE_ADDRESS',
    description: "Connections from one source to one device's web name at once: one visitor cannot take a whole site.",
    schema: opt.positiveInt(),
    default: '32',
  },
  minBodyRate: {
    flag: 'min-body-rate',
    env: 'P2PVPS_MIN_BODY_RATE',
    description: 'Bytes per second a visitor must keep up while sending a request body to a device, measured over the head timeout.',
    schema: opt.positiveInt(),
    default: '500',
  },
  requestTimeoutMs: {
    flag: 'request-timeout-ms',
    env: 'P2PVPS_REQUEST_TIMEOUT_MS',
    description: 'Time a client has to send a whole API request, head and body.',
    schema: opt.positiveInt(),
    default: '30000',
  },
  maxEventStreams: {
    flag: 'max-event-streams',
    env: 'P2PVPS_MAX_EVENT_STREAMS',
    description: 'Live-update streams (dashboards and agents) open at once, in total; each user may hold 5, each device 2.',
    schema: opt.positiveInt(),
    default: '2000',
  },
  metricsHost: {
    flag: 'metrics-host',
    env: 'P2PVPS_METRICS_HOST',
    description: 'Address the separate metrics listener binds to (with --metrics-port).',
    schema: opt.string(),
    default: '127.0.0.1',
  },
  metricsPort: {
    flag: 'metrics-port',
    env: 'P2PVPS_METRICS_PORT',
    description:
      'Serve Prometheus metrics without a token at /metrics on this port of --metrics-host, for a scraper on a private network. ' +
      "Unset: only at /metrics on the server's own name, with an operator's API token.",
    schema: opt.port().optional(),
  },
  gatewayHost: {
    flag: 'gateway-host',
    env: 'P2PVPS_GATEWAY_HOST',
    description: 'Address the device tunnel gateway (SSH) binds to.',
    schema: opt.string(),
    default: '127.0.0.1',
  },
  gatewayPort: {
    flag: 'gateway-port',
    env: 'P2PVPS_GATEWAY_PORT',
    description: 'Port devices open their tunnel to.',
    schema: opt.port(),
    default: '2222',
  },
  gatewayMaxStartups: {
    flag: 'gateway-max-startups',
    env: 'P2PVPS_GATEWAY_MAX_STARTUPS',
    description:
      "Device connections in the handshake at once, as sshd's MaxStartups start:rate:full: past start, rate% of new ones are refused, rising to all at full.",
    schema: opt
      .string()
      .regex(/^\d+:\d+:\d+$/, 'must look like 64:30:256 (start:rate:full)')
      .transform((v) => {
        const [start, rate, full] = v.split(':').map(Number) as [number, number, number];
        return { start, rate, full };
      })
      .refine(({ start, rate, full }) => start >= 1 && start <= full && rate <= 100, 'needs 1 <= start <= full and rate <= 100'),
    default: '64:30:256',
  },
  gatewayMaxStartupsPerSource: {
    flag: 'gateway-max-startups-per-source',
    env: 'P2PVPS_GATEWAY_MAX_STARTUPS_PER_SOURCE',
    description: 'Device connections in the handshake at once from one IPv4 address or IPv6 /64.',
    schema: opt.positiveInt(),
    default: '8',
  },
  gatewayVersionTimeoutMs: {
    flag: 'gateway-version-timeout-ms',
    env: 'P2PVPS_GATEWAY_VERSION_TIMEOUT_MS',
    description: 'Time a device connection has to send its SSH version line (logging in has 30 s).',
    schema: opt.positiveInt(),
    default: '5000',
  },
  gatewayPenalties: {
    flag: 'gateway-penalties',
    env: 'P2PVPS_GATEWAY_PENALTIES',
    description:
      "Like OpenSSH's PerSourcePenalties: seconds a source earns per connection that fails to log in (authfail), closes without trying (noauth) " +
      'or times out (grace-exceeded); at min it is refused for min seconds, doubling each time up to max; at most max-sources remembered. "off" turns them off.',
    schema: opt
      .string()
      .refine(
        (v) =>
          v === 'off' ||
          /^(authfail|noauth|grace-exceeded|min|max|max-sources):\d+s?( +(authfail|noauth|grace-exceeded|min|max|max-sources):\d+s?)*$/.test(
            v,
          ),
        'must be "off" or like authfail:5s noauth:1s grace-exceeded:10s min:15s max:600s max-sources:65536',
      )
      .transform((v) => (v === 'off' ? null : penaltyPolicy(v))),
    default: 'authfail:5s noauth:1s grace-exceeded:10s min:15s max:600s max-sources:65536',
  },
  gatewayMaxConnectionsPerKey: {
    flag: 'gateway-max-connections-per-key',
    env: 'P2PVPS_GATEWAY_MAX_CONNECTIONS_PER_KEY',
    description: 'Logged-in gateway connections one device key may hold; a newer login ends the oldest.',
    schema: opt.positiveInt(),
    default: '4',
  },
  publicBindHost: {
    flag: 'public-bind-host',
    env: 'P2PVPS_PUBLIC_BIND_HOST',
    description: "Address each device's public SSH port binds to.",
    schema: opt.string(),
    default: '127.0.0.1',
  },
  sshHost: {
    flag: 'ssh-host',
    env: 'P2PVPS_SSH_HOST',
    description: 'Host name renters and devices use to reach this server.',
    schema: opt.string(),
    default: '127.0.0.1',
  },
  publicUrl: {
    flag: 'public-url',
    env: 'P2PVPS_PUBLIC_URL',
    description: 'Base URL of the API as clients see it.',
    schema: opt.url(),
    default: (v: Record<string, unknown>) => `http://${v.sshHost}:${v.httpPort}`,
  },
  sshPortRange: {
    flag: 'ssh-port-range',
    env: 'P2PVPS_SSH_PORT_RANGE',
    description: "Range of devices' public SSH ports; keep it outside the kernel's ephemeral range.",
    schema: opt
      .portRange()
      .refine(
        ([lo, hi]) => hi < 32768 || lo > 60999,
        "must not overlap the kernel's ephemeral range 32768-60999, where binds collide with outgoing connections",
      ),
    default: '20000-20999',
  },
  maxPendingDevices: {
    flag: 'max-pending-devices',
    env: 'P2PVPS_MAX_PENDING_DEVICES',
    description:
      'Devices one owner may have awaiting enrolment at once; a device gets its public SSH port when it enrols, and one not enrolled before its token expires is deleted.',
    schema: opt.positiveInt(),
    default: '5',
  },
  serverName: {
    flag: 'server-name',
    env: 'P2PVPS_SERVER_NAME',
    description: 'Name of this marketplace, shown as the home server of its devices.',
    schema: opt.string(),
    default: 'local',
  },
  currency: {
    flag: 'currency',
    env: 'P2PVPS_CURRENCY',
    description: 'ISO 4217 code of the currency prices are in.',
    schema: opt.string().regex(/^[A-Z]{3}$/, 'must be a three-letter currency code like USD'),
    default: 'USD',
  },
  adminEmail: {
    flag: 'admin-email',
    env: 'P2PVPS_ADMIN_EMAIL',
    description: 'Email of the operator account created on first start.',
    schema: opt.string(),
    default: 'admin@localhost',
  },
  feePercent: {
    flag: 'fee-percent',
    env: 'P2PVPS_FEE_PERCENT',
    description: "The marketplace's share of each rental charge, in percent (up to two decimals).",
    schema: opt
      .string()
      .regex(/^(100(\.0{1,2})?|\d{1,2}(\.\d{1,2})?)$/, 'must be a percentage from 0 to 100 with at most two decimals, like 10 or 7.5'),
    default: '10',
  },
  rentMinimumHours: {
    flag: 'rent-minimum-hours',
    env: 'P2PVPS_RENT_MINIMUM_HOURS',
    description: "A renter needs a balance of at least this many hours of a device's price to rent it.",
    schema: opt.positiveInt(),
    default: '1',
  },
  balanceGraceMs: {
    flag: 'balance-grace-ms',
    env: 'P2PVPS_BALANCE_GRACE_MS',
    description: "How long a rental runs on after its renter's balance is used up before it ends (balance_exhausted).",
    schema: opt.positiveInt(),
    default: String(10 * 60_000),
  },
  meterIntervalMs: {
    flag: 'meter-interval-ms',
    env: 'P2PVPS_METER_INTERVAL_MS',
    description: 'How often the metering worker bills active rentals (per whole minute of use).',
    schema: opt.positiveInt(),
    default: '60000',
  },
  reliabilityIntervalMs: {
    flag: 'reliability-interval-ms',
    env: 'P2PVPS_RELIABILITY_INTERVAL_MS',
    description: "How often the reliability worker counts devices' online time and refreshes their scores (docs/reliability.md).",
    schema: opt.positiveInt(),
    default: '60000',
  },
  heartbeatIntervalMs: {
    flag: 'heartbeat-interval-ms',
    env: 'P2PVPS_HEARTBEAT_INTERVAL_MS',
    description: 'How often agents heartbeat.',
    schema: opt.positiveInt(),
    default: String(timing.heartbeatIntervalMs),
  },
  benchmarkIntervalHours: {
    flag: 'benchmark-interval-hours',
    env: 'P2PVPS_BENCHMARK_INTERVAL_HOURS',
    description:
      'How often an idle device is benchmarked to verify its claimed hardware (first at enrolment; never while rented); 0 turns it off.',
    schema: opt.nonNegativeInt(),
    default: '168',
  },
  benchmarkTolerancePercent: {
    flag: 'benchmark-tolerance-percent',
    env: 'P2PVPS_BENCHMARK_TOLERANCE_PERCENT',
    description:
      'How far below a claim (cores, memory, disk, bandwidth) a measured figure may fall before the device is flagged and kept off the market.',
    schema: opt.nonNegativeInt().max(90),
    default: '25',
  },
  benchmarkMemoryProbeMib: {
    flag: 'benchmark-memory-probe-mib',
    env: 'P2PVPS_BENCHMARK_MEMORY_PROBE_MIB',
    description: 'At most this much of the claimed memory is allocated and touched by a benchmark, so a device is not busy for long.',
    schema: opt.positiveInt(),
    default: '1024',
  },
  expiryCheckIntervalMs: {
    flag: 'expiry-check-interval-ms',
    env: 'P2PVPS_EXPIRY_CHECK_INTERVAL_MS',
    description: 'How often the worker ends expired rentals.',
    schema: opt.positiveInt(),
    default: String(timing.expiryCheckIntervalMs),
  },
  smtpUrlFile: {
    flag: 'smtp-url-file',
    env: 'P2PVPS_SMTP_URL_FILE',
    description: 'A file (mode 0600) holding the SMTP URL with its password: what --smtp-url is unless that is given.',
    schema: secretFile(),
  },
  smtpUrl: {
    flag: 'smtp-url',
    env: 'P2PVPS_SMTP_URL',
    description:
      'SMTP server the notices are mailed through: smtp://USER:PASS@HOST:PORT (STARTTLS when offered) or smtps://USER:PASS@HOST:PORT (TLS). ' +
      'Unset: they go to the outbox the operator reads (p2pvps admin outbox). It holds a password: prefer --smtp-url-file or the environment to the flag.',
    schema: opt
      .string()
      .refine(
        (s) => URL.canParse(s) && /^smtps?:$/.test(new URL(s).protocol) && new URL(s).hostname !== '',
        'must be smtp://USER:PASS@HOST:PORT or smtps://…',
      )
      .optional(),
    default: (v: Record<string, unknown>) => v.smtpUrlFile as string | undefined,
    secret: true,
  },
  mailFrom: {
    flag: 'mail-from',
    env: 'P2PVPS_MAIL_FROM',
    description: 'Sender address of the notices, e.g. "p2pvps <noreply@example.org>".',
    schema: opt
      .string()
      .regex(/^([^<>]*<)?[^\s@<>]+@[^\s@<>]+>?$/, 'must be an address like noreply@example.org or "Name <noreply@example.org>"'),
    default: (v: Record<string, unknown>) => `p2pvps@${v.webDomain}`,
  },
  loginsPerAddressPerMinute: {
    flag: 'logins-per-address-per-minute',
    env: 'P2PVPS_LOGINS_PER_ADDRESS_PER_MINUTE',
    description: 'Logins (API and browser) one address may try per minute; more get 429 with Retry-After.',
    schema: opt.positiveInt(),
    default: '20',
  },
  loginFailuresPerAccountPerHour: {
    flag: 'login-failures-per-account-per-hour',
    env: 'P2PVPS_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR',
    description: 'Failed logins one account may have per hour, from any address; past that its logins wait (429).',
    schema: opt.positiveInt(),
    default: '20',
  },
  signupsPerAddressPerHour: {
    flag: 'signups-per-address-per-hour',
    env: 'P2PVPS_SIGNUPS_PER_ADDRESS_PER_HOUR',
    description: 'Accounts one address may create per hour.',
    schema: opt.positiveInt(),
    default: '20',
  },
  logLevel: {
    flag: 'log-level',
    env: 'P2PVPS_LOG_LEVEL',
    description: 'fatal, error, warn, info, debug or trace.',
    schema: opt.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
  },
  // Cluster (cluster/leader-lease.ts): which node runs the periodic work; --node-id is in cluster/cluster-options.ts.
  leaderLeaseTtlMs: {
    flag: 'leader-lease-ttl-ms',
    env: 'P2PVPS_LEADER_LEASE_TTL_MS',
    description:
      'How long the node that runs the periodic work (metering, expiry, mail) holds its lease; it renews every third of it, and another node takes over within about this long after it dies.',
    schema: opt.positiveInt().min(300, 'must be at least 300 ms'),
    default: '6000',
  },
  ...railOptions,
  ...tlsOptions,
  ...clusterOptions,
  ...nodeDirectoryOptions,
  ...federationOptions,
};

export type ServerConfig = OptionValues<typeof serverOptions>;

export function loadServerConfig(argv: readonly string[], env: Record<string, string | undefined>): ServerConfig {
  return parseOptions(serverOptions, argv, env, (v) => [...railProblems(v), ...tlsProblems(v), ...clusterProblems(v)]);
}

/** `authfail:5s noauth:1s …` (validated by the option's schema) as a policy; unnamed keys keep OpenSSH's defaults. */
function penaltyPolicy(spec: string): PenaltyPolicy {
  const seconds = Object.fromEntries(spec.split(/ +/).map((pair) => [pair.split(':')[0], parseInt(pair.split(':')[1] ?? '0', 10)]));
  const ms = (key: string, fallback: number) => (seconds[key] ?? fallback) * 1000;
  return {
    authfailMs: ms('authfail', 5),
    noauthMs: ms('noauth', 1),
    graceExceededMs: ms('grace-exceeded', 10),
    minMs: ms('min', 15),
    maxMs: ms('max', 600),
    maxSources: seconds['max-sources'] ?? 65_536,
  };
}

/** A percentage with at most two decimals as basis points, exactly: '7.5' → 750. */
export function percentToBps(percent: string): number {
  const [whole = '0', frac = ''] = percent.split('.');
  return Number(whole) * 100 + Number(frac.padEnd(2, '0'));
}
