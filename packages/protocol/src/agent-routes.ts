import type { RouteContract } from './route-contract.ts';
import { HeartbeatBody, HeartbeatReply, RegisterBody, Registration } from './agent-schemas.ts';
import { BenchmarkResultBody, HardwareVerification } from './benchmark.ts';

/**
 * The routes a device's agent calls, spread into the route table (routes.ts). The agent's
 * client (route-client.ts) takes only these, so a device builds none of the API's other schemas.
 */
export const agentRoutes = {
  agentRegister: {
    method: 'POST',
    path: '/api/v1/agent/register',
    summary: 'A device exchanges its enrolment token for an identity bound to its key.',
    auth: 'none',
    body: RegisterBody,
    response: Registration,
    status: 201,
  },
  agentHeartbeat: {
    method: 'POST',
    path: '/api/v1/agent/heartbeat',
    summary: 'A device reports what it runs and learns what it should run.',
    auth: 'device',
    body: HeartbeatBody,
    response: HeartbeatReply,
  },
  agentBenchmark: {
    method: 'POST',
    path: '/api/v1/agent/benchmark',
    summary: "A device posts its signed benchmark for the server's challenge; the server times the tunnel and checks the claims.",
    auth: 'device',
    body: BenchmarkResultBody,
    response: HardwareVerification,
  },
} as const satisfies Record<string, RouteContract>;
