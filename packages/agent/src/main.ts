import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { formatOptionsHelp, OptionsError } from '@p2pvps/protocol/options';
import { plainHttpProblem } from '@p2pvps/protocol/transport';
import { Agent, type AgentLog } from './agent.ts';
import { agentOptions, defaultConfigFile, loadAgentConfig } from './config.ts';
import { StateFileDamaged } from './state.ts';

export const agentHelp = `Usage: p2pvps agent [--config FILE] [options]

Runs the device agent: registers with the server using the enrolment token, keeps the
reverse SSH tunnel up, and runs each rental's container on the local Docker engine.
Options come from flags, environment, then the config file (default ${defaultConfigFile},
or P2PVPS_AGENT_CONFIG), whose keys are the option names below.

Options:
${formatOptionsHelp(agentOptions)}`;

export const agentInitHelp = `Usage: p2pvps agent init --server URL --token-file FILE [--data-dir DIR] [--config FILE] [--force] [--insecure-http]

Writes device-config.json for this device (default ${defaultConfigFile}, mode 0600).
The enrolment token is read from FILE, or from standard input with --token-file -
(never from the command line, where ps shows it to every user of the machine).
--insecure-http allows a plain http:// server URL to another machine.`;

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
  let agent: Agent;
  try {
    agent = new Agent(config, log);
  } catch (err) {
    log('error', (err as Error).message);
    // A damaged state file needs the owner: restarting would only fail again (RestartPreventExitStatus in the unit).
    process.exit(err instanceof StateFileDamaged ? err.exitCode : 1);
  }
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

export async function runAgentInit(
  argv: string[],
  env: Record<string, string | undefined>,
  stdin: () => Promise<string> = readStdin,
): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) return void console.log(agentInitHelp);
  const args = new Map<string, string>();
  const problems: string[] = [];
  let force = false;
  let insecureHttp = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--force') force = true;
    else if (a === '--insecure-http') insecureHttp = true;
    else if (a === '--token' || a.startsWith('--token='))
      problems.push(
        '--token would show the token to every user of this machine (ps); use --token-file FILE, or --token-file - and standard input',
      );
    else if (['--server', '--token-file', '--data-dir', '--config'].includes(a) && argv[i + 1]) args.set(a.slice(2), argv[++i]!);
    else problems.push(`unexpected argument "${a}"`);
  }
  const server = args.get('server');
  if (!server) problems.push('--server URL is required');
  else if (!URL.canParse(server) || !/^https?:$/.test(new URL(server).protocol)) problems.push(`--server ${server} is not an http(s) URL`);
  else if (!insecureHttp) {
    const insecure = plainHttpProblem(server, '--insecure-http');
    if (insecure) problems.push(insecure);
  }
  const tokenFile = args.get('token-file');
  let token: string | undefined;
  if (!tokenFile) problems.push('--token-file FILE is required (- reads the token from standard input)');
  else {
    try {
      token = (tokenFile === '-' ? await stdin() : readFileSync(tokenFile, 'utf8')).trim();
      if (!/^\S{10,200}$/.test(token))
        problems.push(`${tokenFile === '-' ? 'standard input' : tokenFile} does not hold an enrolment token (one word, like p2pe_…)`);
    } catch (err) {
      problems.push(`cannot read the token from ${tokenFile}: ${(err as Error).message}`);
    }
  }
  const path = resolve(args.get('config') ?? env.P2PVPS_AGENT_CONFIG ?? defaultConfigFile);
  if (existsSync(path) && !force) problems.push(`${path} already exists; pass --force to overwrite it`);
  if (problems.length) {
    console.error(`p2pvps agent init:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exitCode = 2;
    return;
  }
  const config = {
    serverUrl: server,
    enrolmentToken: token,
    dataDir: args.get('data-dir') ?? '/var/lib/p2pvps-agent',
    ...(insecureHttp ? { insecureHttp: true } : {}),
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  console.log(`wrote ${path}\nstart the agent with: p2pvps agent --config ${path}`);
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.length > 4096) break;
  }
  return text;
}
