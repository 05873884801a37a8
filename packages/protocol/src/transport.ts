import { isIP } from 'node:net';

/**
 * Clients (the CLI, the agent, its installer) talk to a server over https. Plain http
 * carries passwords, API and enrolment tokens, the device's signed calls and renters'
 * credentials readable by anyone on the way, so it is only for this machine itself
 * (loopback) or when the user says so explicitly.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** Why `url` may not be used without the insecure flag, as a sentence; null when it may. */
export function plainHttpProblem(url: string, insecureFlag: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null; // the URL's own check reports it
  }
  if (parsed.protocol !== 'http:' || isLoopbackHost(parsed.hostname)) return null;
  return (
    `${url} is plain http to another machine: passwords, tokens and renters' credentials would cross the network unencrypted. ` +
    `Use the server's https:// URL, or pass ${insecureFlag} if this network is yours alone (a lab).`
  );
}
