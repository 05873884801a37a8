import { timing } from '@p2pvps/protocol/timing';
import { percentToBps, type ServerConfig } from '../config.ts';
import type { DomainContext } from '../domain/context.ts';

/** The settings domain code reads, from the server's options and the shared timings. */
export function domainSettings(config: ServerConfig): DomainContext['settings'] {
  return {
    serverName: config.serverName,
    publicUrl: config.publicUrl,
    nodeHostNames: config.clusterNodes.map((n) => new URL(n.apiUrl).hostname),
    currency: config.currency,
    sshHost: config.sshHost,
    sshPortRange: config.sshPortRange,
    webDomain: config.webDomain,
    httpPort: config.httpPort,
    httpsPort: config.httpsPort,
    feeBps: percentToBps(config.feePercent),
    rentMinimumHours: config.rentMinimumHours,
    balanceGraceMs: config.balanceGraceMs,
    deviceLostGraceMs: timing.deviceLostGraceMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    enrolmentTokenTtlMs: timing.enrolmentTokenTtlMs,
    maxPendingDevices: config.maxPendingDevices,
    benchmark: {
      intervalMs: config.benchmarkIntervalHours * 3_600_000,
      tolerancePercent: config.benchmarkTolerancePercent,
      memoryProbeMaxBytes: config.benchmarkMemoryProbeMib * 2 ** 20,
      challengeTtlMs: timing.benchmarkChallengeTtlMs,
    },
  };
}
