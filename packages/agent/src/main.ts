import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { formatOptionsHelp, OptionsError } from '@p2pvps/protocol/options';
import { Agent, type AgentLog } from './agent.ts';
import { agentOptions, defaultConfigFile, loadAgentConfig } from './config.ts';

export const agentHelp = `Usage: p2pvps agent [--config FILE] [options]

Runs the device agent: registers with the server using the enrolment token, keeps the
reverse SSH tunnel up, and runs each rental's container on the local Docker engine.
Options come from flags, environment, then the config file (default ${defaultConfigFile},
or P2PVPS_AGENT_CONFIG), whose keys are the option names below.

Options:
${formatOptionsHelp(agentOptions)}`;

export const agentInitHelp = `Usage: p2pvps agent init --server URL --token TOKEN [--data-dir DIR] [--config FILE] [--force]

Writes device-config.json for this device (default ${defaultConfigFile}).`;

const levels = { error: 0, warn: 1, info: 2, debug: 3 } as const;

function makeLog(level: keyof typeof levels): AgentLog {
  return (l, msg) => {
    if (levels[l] <= levels[level]) console.error(`${new Date().toISOString()} ${l.padEnd(5)} ${msg}`);
  };
}

export async function runAgent(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) return void console.log(agentHelp);
  let config;
  try {
    config = loadAgentConfig(argv, env);
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    console.error(`p2pvps agent: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  const log = makeLog(config.logLevel);
  const agent = new Agent(config, log);
  const stop = (signal: string) => {
    log('info', `${signal} received; stopping (the renter's container keeps running)`);
    setTimeout(() => process.exit(1), 10_000).unref();
    agent.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  try {
    await agent.start();
  } catch (err) {
    log('error', (err as Error).message);
    process.exit(1);
  }
}

export async function runAgentInit(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) return void console.log(agentInitHelp);
  const args = new Map<string, string>();
  const problems: string[] = [];
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--force') force = true;
    else if (['--server', '--token', '--data-dir', '--config'].includes(a) && argv[i + 1]) args.set(a.slice(2), argv[++i]!);
    else problems.push(`unexpected argument "${a}"`);
  }
  if (!args.get('server')) problems.push('--server URL is required');
  if (!args.get('token')) problems.push('--token TOKEN is required');
  const path = resolve(args.get('config') ?? env.P2PVPS_AGENT_CONFIG ?? defaultConfigFile);
  if (existsSync(path) && !force) problems.push(`${path} already exists; pass --force to overwrite it`);
  if (problems.length) {
    console.error(`p2pvps agent init:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exitCode = 2;
    return;
  }
  const config = {
    serverUrl: args.get('server'),
    enrolmentToken: args.get('token'),
    dataDir: args.get('data-dir') ?? '/var/lib/p2pvps-agent',
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  console.log(`wrote ${path}\nstart the agent with: p2pvps agent --config ${path}`);
}
