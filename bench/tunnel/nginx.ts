import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import type { Processes } from './processes.ts';

export const nginxBin = '/usr/sbin/nginx';
/** What the origin serves: a small static page, the size of a typical API reply. */
export const pageBytes = 612;

export interface Nginx {
  port: number;
  /** nginx -v, e.g. "nginx/1.22.1". */
  version: string;
  stop(): Promise<void>;
}

/**
 * The HTTP origin: Debian's nginx with a config of our own on a loopback port, one worker
 * (so it never takes both cores from the path under test), no access log, keep-alive
 * without a request cap, serving one small static file.
 */
export async function startNginx(processes: Processes, port: number): Promise<Nginx> {
  if (!existsSync(nginxBin)) throw new Error(`${nginxBin} not found: apt-get install -y nginx-light`);
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-bench-nginx-'));
  const root = join(dir, 'www');
  mkdirSync(root);
  // The worker runs as www-data and must reach the page.
  chmodSync(dir, 0o755);
  writeFileSync(join(root, 'index.html'), `${'<p>p2pvps bench</p>\n'.repeat(Math.ceil(pageBytes / 20))}`.slice(0, pageBytes));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `
daemon off;
master_process on;
worker_processes 1;
user www-data;
pid ${join(dir, 'nginx.pid')};
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  tcp_nodelay on;
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    root ${root};
    location / { index index.html; }
  }
}
`,
  );
  let child: ChildProcess;
  try {
    child = await processes.spawnListening('nginx', nginxBin, ['-p', dir, '-c', conf, '-e', 'stderr'], port);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const version = spawnSync(nginxBin, ['-v'], { encoding: 'utf8' })
    .stderr.trim()
    .replace(/^nginx version: /, '');
  return {
    port,
    version,
    async stop() {
      await processes.stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
