import type { AppRecipe, DesiredApp, ObservedApp } from '@p2pvps/protocol/app-packages';

/** Runs a bash script as root in a rental's container; resolves with its exit code and output. */
export type ContainerExec = (rentalId: string, script: string, env: string[]) => Promise<{ code: number; output: string }>;

/** The package's log inside the container: the renter reads it there too. */
export const appLogPath = '/var/log/p2pvps-app.log';
const offlineSource = '/etc/apt/sources.list.d/p2pvps-offline.list';
const logTailBytes = 3000;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `${NAME}` replaced by the setting's value; anything else (`$uri`, `${lower}`) is left alone. */
export function fillSettings(text: string, settings: Record<string, string>): string {
  return text.replace(/\$\{([A-Z][A-Z0-9_]*)\}/g, (whole, name: string) => settings[name] ?? whole);
}

/**
 * The install as one bash script: no service starts during it (policy-rc.d), apt-get takes
 * the Debian packages from the image's offline repository only, then the files, then setup.
 */
export function installScript(recipe: AppRecipe, settings: Record<string, string>): string {
  const lines = [
    'set -euo pipefail',
    `exec >>${appLogPath} 2>&1`,
    `echo "p2pvps: installing ${recipe.name} (${recipe.debianPackages.join(' ')})"`,
    "printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d",
    'export DEBIAN_FRONTEND=noninteractive',
    `apt-get update -q -o Dir::Etc::SourceList=${offlineSource} -o Dir::Etc::SourceParts=-`,
    `apt-get install -q -y --no-install-recommends ${recipe.debianPackages.join(' ')}`,
    'rm -f /usr/sbin/policy-rc.d',
  ];
  for (const f of recipe.files) {
    const path = quote(fillSettings(f.path, settings));
    const body = Buffer.from(fillSettings(f.content, settings)).toString('base64');
    lines.push(`mkdir -p "$(dirname ${path})" && echo ${body} | base64 -d >${path} && chmod ${f.mode} ${path}`);
  }
  for (const step of recipe.setup) lines.push(`echo ${quote(`p2pvps: ${step.slice(0, 200)}`)}`, step);
  return lines.join('\n');
}

/** Starts the package in the background, detached from the exec, its output in the log. */
export function startScript(recipe: AppRecipe): string {
  return [
    `echo "p2pvps: starting ${recipe.name}" >>${appLogPath}`,
    `setsid -f bash -c ${quote(recipe.start)} >>${appLogPath} 2>&1 </dev/null`,
  ].join('\n');
}

/** One try of the health check; exit 0 is healthy. */
export function healthScript(recipe: AppRecipe): string {
  const h = recipe.health;
  if (h.http) return `curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:${h.http.port}${h.http.path}`;
  if (h.tcp) return `timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${h.tcp.port}'`;
  return `timeout 30 bash -c ${quote(h.command!)}`;
}

/**
 * Installs, starts and health-checks each rental's deployment package inside its container,
 * in the background, and keeps how far it got for the heartbeat. Progress changes call
 * `changed` (the agent syncs at once rather than at the next heartbeat).
 */
export class AppInstaller {
  private readonly runs = new Map<string, ObservedApp>();

  constructor(
    private readonly o: {
      exec: ContainerExec;
      changed: () => void;
      log: (level: 'info' | 'warn', msg: string) => void;
      /** Waits between health tries (tests may shorten it). */
      sleep?: (ms: number) => Promise<void>;
    },
  ) {}

  /** The package's progress; the first call for a rental starts its install. */
  progress(rentalId: string, app: DesiredApp): ObservedApp {
    let run = this.runs.get(rentalId);
    if (!run) {
      run = { state: 'installing', log: '' };
      this.runs.set(rentalId, run);
      void this.run(rentalId, app);
    }
    return { ...run };
  }

  /** Forgets every rental but `keep` (their containers are gone). */
  forgetAllExcept(keep: string | undefined): void {
    for (const id of this.runs.keys()) if (id !== keep) this.runs.delete(id);
  }

  private set(rentalId: string, change: Partial<ObservedApp>): void {
    const run = this.runs.get(rentalId);
    if (!run) return;
    Object.assign(run, change);
    this.o.changed();
  }

  private async tail(rentalId: string): Promise<string> {
    const r = await this.o.exec(rentalId, `tail -c ${logTailBytes} ${appLogPath} 2>/dev/null || true`, []).catch(() => ({ output: '' }));
    return r.output.slice(-logTailBytes);
  }

  private async run(rentalId: string, app: DesiredApp): Promise<void> {
    const { recipe, settings } = app;
    const env = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    const sleep = this.o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const fail = async (why: string) => {
      this.o.log('warn', `rental ${rentalId}: package ${recipe.name} failed: ${why}`);
      await this.o.exec(rentalId, `echo ${quote(`p2pvps: ${why}`)} >>${appLogPath}`, []).catch(() => undefined);
      this.set(rentalId, { state: 'failed', log: await this.tail(rentalId) });
    };
    try {
      this.o.log('info', `rental ${rentalId}: installing package ${recipe.name}`);
      this.o.changed();
      const installed = await this.o.exec(rentalId, installScript(recipe, settings), env);
      if (installed.code !== 0) return await fail(`the install failed (exit ${installed.code})`);
      this.set(rentalId, { state: 'starting', log: await this.tail(rentalId) });
      const started = await this.o.exec(rentalId, startScript(recipe), env);
      if (started.code !== 0) return await fail(`the start command could not be started (exit ${started.code})`);
      const deadline = Date.now() + recipe.health.timeoutSeconds * 1000;
      const check = healthScript(recipe);
      for (;;) {
        if (!this.runs.has(rentalId)) return; // the rental ended meanwhile
        if ((await this.o.exec(rentalId, check, env)).code === 0) break;
        if (Date.now() > deadline) return await fail(`the health check did not pass within ${recipe.health.timeoutSeconds} s`);
        await sleep(1000);
      }
      await this.o.exec(rentalId, `echo "p2pvps: ${recipe.name} is healthy" >>${appLogPath}`, []);
      this.o.log('info', `rental ${rentalId}: package ${recipe.name} is healthy`);
      this.set(rentalId, { state: 'healthy', log: await this.tail(rentalId) });
    } catch (err) {
      await fail((err as Error).message);
    }
  }
}
