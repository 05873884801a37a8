import { ApiError } from '@p2pvps/protocol/client';
import type { OutputStream } from './output-stream.ts';
import { printable } from './format.ts';

/** Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * A failure the CLI detected itself, printed like an API error: `error [code]: message`.
 * Codes are stable enough for scripts to branch on, like the API's.
 */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
  }
}

/** The command line itself is wrong; exits 2 with a pointer to the command's help. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly helpCommand: string = '',
  ) {
    super('usage', message, EXIT_USAGE);
  }
}

/** Prints any error as one line (plus indented field problems) and returns the exit code. */
export function reportError(err: unknown, stderr: OutputStream, debug: boolean): number {
  const line = (code: string, message: string) => stderr.write(`error [${code}]: ${printable(message)}\n`);
  const indented = (text: string) => stderr.write(`  ${printable(text)}\n`);
  if (err instanceof UsageError) {
    line(err.code, err.message);
    const command = err.helpCommand ? `p2pvps ${err.helpCommand} --help` : 'p2pvps --help';
    indented(`Run '${command}' for usage.`);
    return err.exitCode;
  }
  if (err instanceof ApiError || err instanceof CliError) {
    line(err.code, err.message);
    for (const [field, problem] of Object.entries(err.fields ?? {})) indented(`${field}: ${problem}`);
    if (err instanceof ApiError && err.detail) indented(err.detail);
    return err instanceof CliError ? err.exitCode : EXIT_FAILURE;
  }
  if (err instanceof Error && err.name === 'ZodError') {
    // The client validates replies against the shared schemas.
    line('bad_response', 'The server replied in a shape this CLI does not understand; are both the same version?');
    if (debug) stderr.write(`${err.stack ?? err.message}\n`);
    return EXIT_FAILURE;
  }
  line('internal', err instanceof Error ? err.message : String(err));
  if (debug && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
  return EXIT_FAILURE;
}
