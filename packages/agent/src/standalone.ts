import { runAgent, runAgentInit } from './main.ts';

/**
 * The built agent's entry point (packages/agent/build.mjs bundles from here into
 * dist/agent.mjs, run by bin/p2pvps-agent): `p2pvps-agent [OPTIONS]` runs the agent,
 * `p2pvps-agent init [OPTIONS]` writes its config, as `p2pvps agent` and `p2pvps agent init` do.
 */
const argv = process.argv.slice(2);
(argv[0] === 'init' ? runAgentInit(argv.slice(1), process.env) : runAgent(argv, process.env)).catch((err: Error) => {
  console.error(`p2pvps agent: ${err.stack ?? err.message}`);
  process.exit(1);
});
