import { ServerDocument, wellKnownServerPath } from '@p2pvps/protocol/federation-schemas';
import { ApiErrorBody } from '@p2pvps/protocol/errors';
import type { Clock } from '../domain/clock.ts';
import { DomainError } from '../domain/errors.ts';
import { signRequest } from './http-signatures.ts';
import type { ServerIdentity } from './server-key.ts';

/** A peer's answer: its status and JSON body (an error envelope when not 2xx). */
export interface PeerReply {
  status: number;
  body: unknown;
}

const timeoutMs = 10_000;

/** The outbound side of federation: every request to a peer signed with this server's key, from its public URL. */
export class FederationClient {
  constructor(private readonly o: { identity: ServerIdentity; ownUrl: string; clock: Clock; fetch?: typeof fetch }) {}

  /** The URL and fetch options of a signed request, for callers (tests) that send it themselves. */
  signed(peerUrl: string, method: 'GET' | 'POST', path: string, body?: unknown): { url: string; init: RequestInit } {
    const text = body === undefined ? '' : JSON.stringify(body);
    const url = `${peerUrl}${path}`;
    const headers = signRequest(
      { method, targetUri: url, body: text, origin: this.o.ownUrl },
      { keyid: this.o.identity.key.id, sign: (d) => this.o.identity.sign(d) },
      this.o.clock.now().getTime(),
    );
    return {
      url,
      init: {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: text }),
      },
    };
  }

  async request(peerUrl: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<PeerReply> {
    const { url, init } = this.signed(peerUrl, method, path, body);
    const res = await (this.o.fetch ?? fetch)(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { code: 'bad_response', message: `not JSON: ${text.slice(0, 100)}` };
    }
    return { status: res.status, body: json };
  }

  /** A peer's published server document (unsigned request: it is public). */
  async serverDocument(peerUrl: string): Promise<ServerDocument> {
    let body: unknown;
    try {
      const res = await (this.o.fetch ?? fetch)(`${peerUrl}${wellKnownServerPath}`, {
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = await res.json();
    } catch (err) {
      throw new DomainError('federation_peer_unreachable', `Could not fetch ${peerUrl}${wellKnownServerPath}: ${(err as Error).message}.`);
    }
    const doc = ServerDocument.safeParse(body);
    if (!doc.success)
      throw new DomainError('federation_peer_unreachable', `${peerUrl}${wellKnownServerPath} is not a p2pvps server document.`);
    return doc.data;
  }
}

/** The error a peer's reply carries, as one line for the operator (peers list, logs). */
export function describeReply(reply: PeerReply): string {
  const env = ApiErrorBody.safeParse(reply.body);
  return env.success ? `${reply.status} ${env.data.code}: ${env.data.message}` : `HTTP ${reply.status}`;
}
