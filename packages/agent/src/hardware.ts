import { statfsSync } from 'node:fs';
import os from 'node:os';
import type { Hardware } from '@p2pvps/protocol/schemas';

const archNames: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386' };

/** What the device offers, as reported at registration and refreshed by heartbeats. */
export function probeHardware(dataDir: string): Hardware {
  const cpus = os.cpus();
  const fs = statfsSync(dataDir);
  return {
    cpuModel: (cpus[0]?.model ?? 'unknown').trim().slice(0, 200) || 'unknown',
    cores: Math.max(1, cpus.length),
    memoryBytes: os.totalmem(),
    diskBytes: Number(fs.bavail) * Number(fs.bsize),
    arch: archNames[os.arch()] ?? os.arch(),
  };
}
