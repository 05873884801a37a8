import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AgentInstall } from '@p2pvps/protocol/agent-schemas';
import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import { mount, type Authenticator } from './register.ts';

/**
 * What an owner's device fetches to install the agent, outside the JSON API:
 * `curl -fsSL PUBLIC_URL/install.sh | sudo bash -s -- --sha256 HEX` (it asks for the token).
 * - /install.sh is scripts/install-agent.sh with this server's public URL as its default --server;
 * - /agent.tar.gz is the agent's code, packed from this checkout by scripts/pack-agent.sh
 *   on first request and kept in memory (about 100 KB);
 * - GET /api/v1/agent/install (JSON) gives the tarball's SHA-256 and the whole command, which
 *   the dashboard and `p2pvps devices add` print: the installer refuses other code.
 */
const checkout = fileURLToPath(new URL('../../../../', import.meta.url));

export function installRoutes(app: FastifyInstance, publicUrl: string, auth?: Authenticator): void {
  app.get('/install.sh', async (_req, reply) => {
    const script = await readFile(join(checkout, 'scripts/install-agent.sh'), 'utf8');
    return reply.type('text/x-shellscript; charset=utf-8').header('cache-control', 'no-cache').send(withDefaultServer(script, publicUrl));
  });
  let tarball: Promise<{ bytes: Buffer; sha256: string }> | undefined;
  const packed = () =>
    (tarball ??= packAgent()
      .then((bytes) => ({ bytes, sha256: createHash('sha256').update(bytes).digest('hex') }))
      .catch((err: unknown) => {
        tarball = undefined;
        throw err;
      }));
  app.get('/agent.tar.gz', async (_req, reply) => {
    return reply
      .type('application/gzip')
      .header('cache-control', 'no-cache')
      .send((await packed()).bytes);
  });
  if (auth) mount(app, auth, routes.agentInstall, async () => installInfo(publicUrl, (await packed()).sha256));
}

export function installInfo(publicUrl: string, sha256: string): AgentInstall {
  const base = publicUrl.replace(/\/+$/, '');
  return {
    sha256,
    installScriptUrl: `${base}/install.sh`,
    tarballUrl: `${base}/agent.tar.gz`,
    command: `curl -fsSL ${base}/install.sh | sudo bash -s -- --sha256 ${sha256}`,
  };
}

/** Bakes the server's URL into the script's one `default_server=""` line. */
export function withDefaultServer(script: string, publicUrl: string): string {
  // A URL the config accepted, but it goes into shell source: no quotes or line breaks.
  if (/['"\\\n$`]/.test(publicUrl)) throw new Error(`the public URL ${publicUrl} cannot be written into a shell script`);
  const line = /^default_server=""$/m;
  if (!line.test(script)) throw new Error('scripts/install-agent.sh has no default_server="" line');
  return script.replace(line, `default_server='${publicUrl.replace(/\/$/, '')}'`);
}

async function packAgent(): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pvps-agent-tarball-'));
  try {
    const out = join(dir, 'agent.tar.gz');
    await promisify(execFile)('bash', [join(checkout, 'scripts/pack-agent.sh'), out], { timeout: 120_000 });
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
