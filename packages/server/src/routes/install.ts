import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';

/**
 * What an owner's device fetches to install the agent, outside the JSON API:
 * `curl -fsSL PUBLIC_URL/install.sh | sudo bash -s -- --token p2pe_…`.
 * - /install.sh is scripts/install-agent.sh with this server's public URL as its default --server;
 * - /agent.tar.gz is the agent's code, packed from this checkout by scripts/pack-agent.sh
 *   on first request and kept in memory (about 100 KB).
 */
const checkout = fileURLToPath(new URL('../../../../', import.meta.url));

export function installRoutes(app: FastifyInstance, publicUrl: string): void {
  app.get('/install.sh', async (_req, reply) => {
    const script = await readFile(join(checkout, 'scripts/install-agent.sh'), 'utf8');
    return reply.type('text/x-shellscript; charset=utf-8').header('cache-control', 'no-cache').send(withDefaultServer(script, publicUrl));
  });
  let tarball: Promise<Buffer> | undefined;
  app.get('/agent.tar.gz', async (_req, reply) => {
    tarball ??= packAgent().catch((err: unknown) => {
      tarball = undefined;
      throw err;
    });
    return reply
      .type('application/gzip')
      .header('cache-control', 'no-cache')
      .send(await tarball);
  });
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
