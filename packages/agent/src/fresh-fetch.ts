import http from 'node:http';
import https from 'node:https';

/**
 * fetch over a connection of its own, closed after the reply: the agent asks this way
 * before it believes that the server revoked its key, so an answer from a stale pooled
 * connection (a proxy or load balancer gone wrong) cannot be what makes it wipe.
 */
export const freshFetch = ((input: string | URL, init: RequestInit = {}) =>
  new Promise<Response>((resolve, reject) => {
    const url = new URL(String(input));
    const transport = url.protocol === 'https:' ? https : http;
    const headers = { ...(init.headers as Record<string, string>), connection: 'close' };
    const req = transport.request(url, { method: init.method ?? 'GET', headers, agent: false, signal: init.signal ?? undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 500;
        const responseHeaders = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') responseHeaders.set(k, v);
        resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
      });
    });
    req.on('error', reject);
    req.end(init.body === undefined || init.body === null ? undefined : String(init.body));
  })) as typeof fetch;
