import type http from 'node:http';
import net from 'node:net';
import type tls from 'node:tls';
import type { Duplex, Readable } from 'node:stream';
import client from 'prom-client';
import type { WebRoute } from '../domain/devices/web-routing.ts';
import type { TrafficKind, TrafficMeter } from '../services/traffic.ts';
import { unrecognizedNameAlert } from './client-hello.ts';
import { errorResponse } from './error-page.ts';
import { terminateTls } from './tls-termination.ts';
import { whenEnded, type TunnelGatewayLog } from '../gateway/tunnel-gateway.ts';
import { HttpFramingError, RequestFramer, requestHost, responseStatus, sameName, serializeHead, type RequestHead } from './http-framing.ts';
import { sourceOf } from '../client-source.ts';
import { SlotCounts } from './connection-caps.ts';
import { guardRequests } from './deadlines.ts';
import { OriginPool, type OriginPoolLimits } from './origin-pool.ts';
import { ReusedChannel } from './reused-channel.ts';
import { firstHead, firstHello } from './first-bytes.ts';

export type Route = WebRoute;

export interface FrontDoorLimits {
  /** Largest request head or ClientHello read before routing, in bytes. */
  maxHeadBytes: number;
  /** Time a client has to send a request head (every one on a keep-alive connection) or its ClientHello. */
  headTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed. */
  idleTimeoutMs: number;
  /** Connections open through both doors at once (the API's included), in total and to any one device. */
  maxConnections: number;
  maxConnectionsPerDevice: number;
  /** Connections from one source (an IPv4 address, an IPv6 /64) at once, in total and to any one device. */
  maxConnectionsPerAddress: number;
  maxConnectionsPerDeviceAddress: number;
  /** Least bytes of a request body per head timeout, while a visitor sends one to a device. */
  minBodyBytes: number;
}

export type FrontDoorLog = TunnelGatewayLog;

export interface FrontDoorOptions {
  /** Decides where a host name leads; `null` is a request without a Host header. */
  resolve(host: string | null): Promise<Route>;
  /** A channel to the device's port 80 or 443, through its tunnel. */
  openChannel(deviceId: string, port: number, remoteAddress: string, remotePort: number): Promise<Duplex>;
  /** Requests for the server's own name are handed to this server (the API and dashboard). */
  apiServer: http.Server;
  /** The certificate for the server's own name on the HTTPS door; without one, that name is refused there. */
  serverTls?: () => tls.SecureContext | null;
  traffic: TrafficMeter;
  registry: client.Registry;
  limits: FrontDoorLimits;
  /** Channels to devices' port 80 kept warm between visitors (origin-pool.ts); 16 per device, 2 s idle by default. */
  originPool?: OriginPoolLimits;
  log: FrontDoorLog;
}

type Door = 'http' | 'https';
const lingerMs = 5_000;
const defaultOriginPool: OriginPoolLimits = { maxIdlePerDevice: 16, idleMs: 2_000 };

/**
 * The server's two public front doors. HTTP routes each request by its Host header: the
 * server's own name to the API, a device's name to port 80 of its rented container, with
 * the visitor's address in X-Forwarded-For. HTTPS routes by the SNI name in the
 * ClientHello: the server's own name has its TLS ended here and goes to the API; a
 * device's name is passed through untouched to port 443 of the container, so the
 * renter's certificate and key never leave the device.
 */
export class FrontDoors {
  readonly http: net.Server;
  readonly https: net.Server;
  /** Every connection, those handed to the API server included: they hold a descriptor all the same. */
  private readonly open = new Set<net.Socket>();
  private readonly perSource = new SlotCounts();
  private readonly perDevice = new SlotCounts();
  private readonly perDeviceSource = new SlotCounts();
  private readonly outcomes: client.Counter<'door' | 'outcome'>;
  private readonly cutoffs: client.Counter<'reason'>;
  private readonly pool: OriginPool;
  private readonly reuses: client.Counter;
  private readonly retries: client.Counter<'outcome'>;

  constructor(private readonly o: FrontDoorOptions) {
    this.pool = new OriginPool(o.originPool ?? defaultOriginPool);
    this.http = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.accept('http', s));
    this.https = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.accept('https', s));
    for (const server of [this.http, this.https]) server.on('error', (err) => o.log.warn({ err }, 'front door error'));
    // The API server never listens: its connections come from here. Node starts enforcing
    // its headersTimeout and requestTimeout when a server starts listening, so start that now.
    o.apiServer.emit('listening');
    this.outcomes = new client.Counter({
      name: 'p2pvps_frontdoor_connections_total',
      help: 'Connections to the front doors, by door and by what became of them.',
      labelNames: ['door', 'outcome'],
      registers: [o.registry],
    });
    this.cutoffs = new client.Counter({
      name: 'p2pvps_frontdoor_cutoffs_total',
      help: 'Visitor connections to devices closed for a later request head past its deadline, or a body sent too slowly.',
      labelNames: ['reason'],
      registers: [o.registry],
    });
    this.reuses = new client.Counter({
      name: 'p2pvps_frontdoor_channel_reuses_total',
      help: "Visitor connections to a device's web port carried on a channel kept open from an earlier visitor, instead of a new one.",
      registers: [o.registry],
    });
    this.retries = new client.Counter({
      name: 'p2pvps_frontdoor_channel_retries_total',
      help: 'Requests sent again on a new channel because the kept one was closed by the origin before it answered.',
      labelNames: ['outcome'],
      registers: [o.registry],
    });
    const pool = this.pool;
    new client.Gauge({
      name: 'p2pvps_frontdoor_idle_channels',
      help: "Channels to devices' web ports kept open, idle, for the next visitor.",
      registers: [o.registry],
      collect() {
        this.set(pool.size);
      },
    });
    const open = this.open;
    new client.Gauge({
      name: 'p2pvps_frontdoor_connections_open',
      help: 'Connections open through the front doors right now.',
      registers: [o.registry],
      collect() {
        this.set(open.size);
      },
    });
  }

  /**
   * Closes the device's idle channels: call it whenever its rental, route or tunnel changes
   * (a rental starts or ends, the device is refreshed or disconnected, its tunnel goes down),
   * so no channel opened for one rental carries a visitor of the next.
   */
  forgetDevice(deviceId: string): void {
    this.pool.forgetDevice(deviceId);
  }

  /** Closes every idle channel (all routes were forgotten at once). */
  forgetChannels(): void {
    this.pool.clear();
  }

  /** Closes the listeners and every connection still open. */
  async close(): Promise<void> {
    this.pool.clear();
    const closed = [this.http, this.https].map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())));
    for (const socket of this.open) socket.destroy();
    await Promise.all(closed);
  }

  private accept(door: Door, socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.open.size >= this.o.limits.maxConnections) {
      this.outcomes.inc({ door, outcome: 'over_capacity' });
      return void socket.destroy();
    }
    const source = sourceOf(socket.remoteAddress);
    const releaseSource = this.perSource.take(source, this.o.limits.maxConnectionsPerAddress);
    if (!releaseSource) {
      this.outcomes.inc({ door, outcome: 'address_over_capacity' });
      return void socket.destroy();
    }
    this.open.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      releaseSource();
    });
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (outcome: string, status: number, code: string, message: string) => {
      this.outcomes.inc({ door, outcome });
      cleanup();
      if (door === 'http') socket.end(errorResponse(status, code, message));
      else if (code === 'unknown_name') socket.end(unrecognizedNameAlert);
      else socket.end();
      setTimeout(() => socket.destroy(), lingerMs).unref();
    };
    const timer = setTimeout(
      () => fail('timeout', 408, 'head_timeout', 'The request did not arrive in time.'),
      this.o.limits.headTimeoutMs,
    );
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    const onEnd = () => {
      cleanup();
      this.outcomes.inc({ door, outcome: 'closed_early' });
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const data = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
      const first = door === 'http' ? firstHead(data, this.o.limits.maxHeadBytes) : firstHello(data, this.o.limits.maxHeadBytes);
      if (first.kind === 'incomplete') return;
      cleanup();
      socket.pause();
      if (first.kind === 'error') return fail('bad_request', first.status, first.code, first.message);
      void this.route(door, socket, data, first.host, first.poolable, source, fail);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  }

  private async route(
    door: Door,
    socket: net.Socket,
    buffered: Buffer,
    host: string | null,
    firstPoolable: boolean,
    source: string,
    fail: (outcome: string, status: number, code: string, message: string) => void,
  ): Promise<void> {
    let route: Route;
    try {
      route = await this.o.resolve(host);
    } catch (err) {
      this.o.log.warn({ err, host }, 'front door could not resolve a name');
      return fail('error', 503, 'internal_error', 'Something went wrong on our side; try again in a moment.');
    }
    if (socket.destroyed) return;
    if (route.kind === 'api') {
      let connection: net.Socket = socket;
      if (door === 'https') {
        // TLS for the server's own name ends here, when there is a certificate for it.
        const context = this.o.serverTls?.();
        if (!context) return fail('no_tls_for_server', 421, 'unknown_name', 'This server does not serve its own name over HTTPS.');
        connection = terminateTls(socket, buffered, context, this.o.limits.headTimeoutMs);
      } else socket.unshift(buffered);
      this.outcomes.inc({ door, outcome: 'api' });
      // The API server takes the connection over, with the bytes read so far put back. The raw
      // socket stays counted in `open` and against its source until it closes.
      this.o.apiServer.emit('connection', connection);
      if (connection === socket) socket.resume();
      return;
    }
    if (route.kind === 'none') {
      return route.reason === 'unknown_name'
        ? fail('unknown_name', 404, 'unknown_name', `There is no site at ${host ?? 'this address'}.`)
        : fail('no_rental', 503, 'no_rental', `${host} is not rented out right now, so nothing is served here.`);
    }

    const { deviceId, rentalId } = route;
    const releaseDevice = this.perDevice.take(deviceId, this.o.limits.maxConnectionsPerDevice);
    if (!releaseDevice) {
      return fail('device_over_capacity', 503, 'device_busy', `${host} has too many open connections; try again shortly.`);
    }
    socket.once('close', releaseDevice);
    const releaseDeviceSource = this.perDeviceSource.take(`${deviceId} ${source}`, this.o.limits.maxConnectionsPerDeviceAddress);
    if (!releaseDeviceSource) {
      return fail('address_over_capacity', 503, 'device_busy', `You have too many connections open to ${host}; close some and try again.`);
    }
    socket.once('close', releaseDeviceSource);

    const openFresh = () => this.o.openChannel(deviceId, door === 'http' ? 80 : 443, socket.remoteAddress ?? '', socket.remotePort ?? 0);
    // A request that may go on a kept channel takes one: no round trip to open a channel, no connection for the origin to accept.
    const pooled = door === 'http' && firstPoolable;
    let channel = pooled ? this.pool.take(deviceId, rentalId) : null;
    const reused = channel !== null;
    if (reused) this.reuses.inc();
    try {
      channel ??= await openFresh();
    } catch {
      return fail('device_unreachable', 502, 'device_unreachable', `The device behind ${host} is not answering right now.`);
    }
    if (socket.destroyed) return void channel.destroy();
    this.outcomes.inc({ door, outcome: 'device' });
    this.o.traffic.track(socket, deviceId, rentalId, door satisfies TrafficKind);
    socket.setTimeout(this.o.limits.idleTimeoutMs, () => socket.destroy());

    let framer: RequestFramer | undefined;
    let session: ReusedChannel | undefined;
    if (door === 'http') {
      const visitor = socket.remoteAddress ?? '';
      framer = new RequestFramer({
        maxHeadBytes: this.o.limits.maxHeadBytes,
        rewrite: (head, _index, body) => {
          if (requestHost(head) !== host) throw new HttpFramingError(421, 'a request for another host on this connection');
          const forwarded = forwardedHead(head, visitor);
          return serializeHead(session ? session.request(forwarded, body) : forwarded);
        },
      });
      framer.on('error', () => socket.destroy());
      // A pooled visitor's one request is bodiless and asked to close: the framer drops
      // whatever follows it, so there is no later head or body to put a deadline on.
      if (!pooled) {
        guardRequests(socket, framer, { headTimeoutMs: this.o.limits.headTimeoutMs, minBodyBytes: this.o.limits.minBodyBytes }, (why) => {
          this.cutoffs.inc({ reason: why });
          socket.destroy();
        });
      }
      socket.pipe(framer);
    }
    if (!framer || !pooled) return join(socket, channel, buffered, framer);
    session = new ReusedChannel({
      socket,
      framer,
      first: buffered,
      channel,
      reused,
      openFresh,
      giveBack: (kept) => this.pool.give(deviceId, rentalId, kept),
      retried: (ok) => {
        this.retries.inc({ outcome: ok ? 'sent' : 'device_unreachable' });
        if (ok || socket.destroyed) return;
        socket.end(errorResponse(502, 'device_unreachable', `The device behind ${host} is not answering right now.`));
        setTimeout(() => socket.destroy(), lingerMs).unref();
      },
    });
    session.start();
  }
}

const forwardedHeaders = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
]);
/** A header name shorter than every one of them cannot be one: no lower-case copy needed. */
const shortestForwarded = Math.min(...[...forwardedHeaders].map((name) => name.length));

/** The visitor's own forwarding headers are dropped (they could say anything); ours say who connected. */
function forwardedHead(head: RequestHead, visitor: string): RequestHead {
  const headers: [string, string][] = [];
  let host: string | undefined;
  for (const header of head.headers) {
    const n = header[0];
    if (host === undefined && sameName(n, 'host')) host = header[1];
    if (n.length < shortestForwarded || !forwardedHeaders.has(n.toLowerCase())) headers.push(header);
  }
  headers.push(['X-Forwarded-For', visitor], ['X-Forwarded-Proto', 'http'], ['X-Forwarded-Host', host ?? ''], ['X-Real-IP', visitor]);
  return { ...head, headers };
}

/**
 * Joins a visitor's socket (read through `upstream`, which may rewrite it) with a channel
 * to the device, keeping half-close: the visitor's FIN becomes an EOF on the channel
 * after everything before it, and the channel closing ends the socket.
 */
function join(socket: net.Socket, channel: Duplex, first: Buffer, framer?: RequestFramer): void {
  channel.on('error', () => socket.destroy());
  if (framer) {
    // The framer opens a tunnel for an upgrade only once the origin said yes: read the
    // status of the first response (the answer to the first request), then stop looking.
    let seen = Buffer.alloc(0);
    const watch = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const status = responseStatus(seen);
      if (status === null) return;
      channel.off('data', watch);
      framer.firstResponse(status);
    };
    channel.on('data', watch);
  }
  channel.pipe(socket);
  const upstream: Readable = framer ?? socket;
  (framer ?? channel).write(first);
  upstream.pipe(channel, { end: false });
  whenEnded(upstream, () => {
    const eof = (channel as Duplex & { eof?: () => void }).eof;
    channel.write(Buffer.alloc(0), () => (eof ? eof.call(channel) : channel.end()));
  });
  socket.once('close', () => channel.destroy());
  channel.once('close', () => {
    // Usually the pipe has ended the socket already: ending it again costs an error object.
    if (socket.destroyed) return;
    if (!socket.writableEnded) socket.end();
    setTimeout(() => socket.destroy(), lingerMs).unref();
  });
  socket.resume();
}
