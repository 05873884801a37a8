import { commandGroups, type Command, type OptionSpec } from './command.ts';
import { commands, globalOptions } from './command-table.ts';

/** Help text, generated from the command table so it cannot drift from the parser. */

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, s]) => {
    const flag = `${s.short ? `-${s.short}, ` : ''}--${name}${s.value ? ` ${s.value}` : ''}`;
    return [flag, s.description] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return rows.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`);
}

function commandList(list: readonly Command[], width = Math.max(...list.map((c) => c.name.length))): string[] {
  return list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
}

/** Every command under its group's heading, groups in their fixed order, one column width for all. */
function groupedCommandList(): string[] {
  const width = Math.max(...commands.map((c) => c.name.length));
  return commandGroups.flatMap((group, i) => [
    ...(i > 0 ? [''] : []),
    `${group}:`,
    ...commandList(
      commands.filter((c) => c.group === group),
      width,
    ),
  ]);
}

export function topHelp(): string {
  return [
    'p2pvps: rent small computers as VPSes, or rent yours out.',
    '',
    'Usage: p2pvps [GLOBAL OPTIONS] COMMAND [ARGS]',
    '',
    ...groupedCommandList(),
    '',
    'Global options:',
    ...optionLines(globalOptions),
    '',
    "Run 'p2pvps COMMAND --help' for a command's arguments and options.",
    '',
  ].join('\n');
}

export function groupHelp(group: string): string {
  return [
    `Usage: p2pvps ${group} COMMAND [ARGS]`,
    '',
    'Commands:',
    ...commandList(commands.filter((c) => c.name.startsWith(`${group} `))),
    '',
    `Run 'p2pvps ${group} COMMAND --help' for a command's arguments and options.`,
    '',
  ].join('\n');
}

export function commandHelp(command: Command): string {
  const lines = [`Usage: p2pvps ${command.usage}`, '', command.summary];
  if (command.description) lines.push('', command.description);
  if (command.kind === 'api') {
    if (Object.keys(command.options).length > 0) lines.push('', 'Options:', ...optionLines(command.options));
    lines.push('', 'Global options:', ...optionLines(globalOptions));
  }
  lines.push('');
  return lines.join('\n');
}
