import { parseCommandArgs, resolveCommand, wantsHelp } from './args.ts';
import { CliError, reportError, UsageError } from './cli-error.ts';
import { commands } from './command-table.ts';
import { plainHttpProblem } from '@p2pvps/protocol/transport';
import { configPath, loadConfig, resolveServer, resolveToken } from './config.ts';
import { createContext, type RunEnvironment } from './context.ts';
import { commandHelp, groupHelp, topHelp } from './help.ts';

/**
 * Runs one CLI invocation and returns its exit code: 0 done, 1 failed, 2 bad command line.
 * Nothing here touches `process` directly, so tests run the CLI in-process.
 */
export async function run(argv: string[], runEnv: RunEnvironment): Promise<number> {
  const { io, env } = runEnv;
  try {
    const resolved = resolveCommand(argv);
    if (resolved.kind === 'none') {
      if (resolved.argv.length === 0 || wantsHelp(resolved.argv)) {
        io.stdout.write(topHelp());
        return 0;
      }
      throw new UsageError('no command given');
    }
    if (resolved.kind === 'group') {
      if (wantsHelp(resolved.argv)) {
        io.stdout.write(groupHelp(resolved.group));
        return 0;
      }
      const subcommands = commands.filter((c) => c.name.startsWith(`${resolved.group} `)).map((c) => c.name.split(' ')[1]);
      throw new UsageError(`"${resolved.group}" needs a subcommand: ${subcommands.join(', ')}`, resolved.group);
    }

    const { command } = resolved;
    if (command.kind === 'raw') {
      if (resolved.before.length > 0) {
        throw new UsageError(`"${command.name}" reads its own options; put them after "${command.name}"`, command.name);
      }
      return (await command.run(resolved.argv, env)) ?? 0;
    }

    const argvForCommand = [...resolved.before, ...resolved.argv];
    if (wantsHelp(argvForCommand)) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    const args = parseCommandArgs(command, argvForCommand);
    const flag = (name: string) => {
      const value = args.values[name];
      return typeof value === 'string' ? value : undefined;
    };
    const path = configPath(flag('config'), env);
    const config = await loadConfig(path);
    const server = resolveServer(flag('server'), env, config);
    const insecure = plainHttpProblem(server, '--insecure-http (or P2PVPS_INSECURE_HTTP=1)');
    if (insecure && args.values['insecure-http'] !== true && !['1', 'true', 'yes'].includes(env.P2PVPS_INSECURE_HTTP ?? ''))
      throw new CliError('insecure_server', insecure, 2);
    const token = resolveToken(flag('token'), env, config, server);
    const ctx = createContext(runEnv, { json: args.values.json === true, configPath: path, config, server, token });
    return (await command.run(ctx, args)) ?? 0;
  } catch (err) {
    return reportError(err, io.stderr, Boolean(env.P2PVPS_DEBUG));
  }
}
