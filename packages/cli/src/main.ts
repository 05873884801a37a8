import { run } from './run.ts';

// The `p2pvps` entry point. Sets exitCode rather than calling process.exit() so output is
// flushed and a long-running `server` or `agent` keeps its event loop. Those two may set
// process.exitCode themselves and return nothing (0 here), so a 0 never overwrites theirs.
const code = await run(process.argv.slice(2), {
  env: process.env,
  io: { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
});
if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
