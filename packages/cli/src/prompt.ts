import { createInterface } from 'node:readline';
import { CliError } from './cli-error.ts';
import type { InputStream, Io } from './context.ts';

/** Reading answers from the user: one line from a pipe, or typed at a terminal. */

/** Reads one line (without its line ending) from a stream; undefined at end of input. */
export async function readLine(input: InputStream): Promise<string | undefined> {
  const lines = createInterface({ input, terminal: false, crlfDelay: Infinity });
  try {
    return await new Promise<string | undefined>((resolve) => {
      lines.once('line', (line) => resolve(line));
      lines.once('close', () => resolve(undefined));
    });
  } finally {
    lines.close();
  }
}

/** Asks a question on stderr (stdout stays clean for --json) and reads the answer. */
export async function promptLine(io: Io, question: string): Promise<string> {
  io.stderr.write(question);
  const answer = await readLine(io.stdin);
  if (answer === undefined) throw new CliError('cancelled', 'No answer was given.');
  return answer.trim();
}

/**
 * Reads a secret from the terminal without echoing it: the terminal is put in raw mode
 * and we handle Enter, Backspace, Ctrl-U and Ctrl-C ourselves.
 */
export async function promptHidden(io: Io, question: string): Promise<string> {
  const { stdin, stderr } = io;
  if (!stdin.isTTY || !stdin.setRawMode) throw new Error('promptHidden needs a terminal');
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  let secret = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (chunk: string | Buffer) => {
        for (const char of String(chunk)) {
          if (char === '\r' || char === '\n') {
            stdin.off('data', onData);
            resolve(secret);
            return;
          }
          if (char === '\u0003' || (char === '\u0004' && secret === '')) {
            stdin.off('data', onData);
            reject(new CliError('cancelled', 'Cancelled.', 130));
            return;
          }
          if (char === '\u007f' || char === '\b') secret = [...secret].slice(0, -1).join('');
          else if (char === '\u0015') secret = '';
          else if (char >= ' ') secret += char;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stderr.write('\n');
  }
}
