import http from 'node:http';
import https from 'node:https';
import { agentRoutes } from '@p2pvps/protocol/agent-routes';
import { RouteClient, type HttpReply, type HttpSend, type RouteClientOptions } from '@p2pvps/protocol/route-client';

/**
 * The agent's requests to the server, over node:http(s) rather than global fetch: fetch is
 * undici, which costs a device about 7 MiB resident for a few small JSON calls every few
 * minutes (docs/benchmarks.md, "Agent footprint"). Replies are read whole, up to a bound a
 * heartbeat never nears, so a server gone wrong cannot fill the device's memory.
 */
const maxReplyBytes = 4 * 2 ** 20;

function send(url: string, init: Parameters<HttpSend>[1], fresh: boolean): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? https : http;
    const headers = fresh ? { ...init.headers, connection: 'close' } : init.headers;
    // Pooled: Node's global agents keep a socket for a few seconds, so the calls of one sync share it.
    const req = transport.request(
      target,
      { method: init.method, headers, signal: init.signal, ...(fresh ? { agent: false } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > maxReplyBytes) return void req.destroy(new Error(`the server's reply is over ${maxReplyBytes} bytes`));
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 500;
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status, ok: status >= 200 && status < 300, text: async () => body });
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Requests over the pooled connections. */
export const sendToServer: HttpSend = (url, init) => send(url, init, false);

/**
 * A request over a connection of its own, closed after the reply: the agent asks this way
 * before it believes that the server revoked its key, so an answer from a stale pooled
 * connection (a proxy or load balancer gone wrong) cannot be what makes it wipe.
 */
export const sendOverFreshConnection: HttpSend = (url, init) => send(url, init, true);

/** The agent's client: its own routes only (no schema of the rest of the API is built), over node:http. */
export type ServerApi = RouteClient<typeof agentRoutes>;

export function serverApi(options: Omit<RouteClientOptions, 'fetch'>, sendBy: HttpSend = sendToServer): ServerApi {
  return new RouteClient(agentRoutes, { ...options, fetch: sendBy });
}
