/** Where a command writes (stdout, stderr): a terminal or, in tests, a buffer. Apart from context.ts so errors can be reported without it. */
export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
}
