import { statfsSync } from 'node:fs';
import os from 'node:os';
import type { Hardware } from '@p2pvps/protocol/device-schemas';

const archNames: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386' };

/**
 * The device's hardware, as reported at registration and refreshed by heartbeats: the
 * limits its owner's offer must keep within. The disk is the renter storage's capacity
 * (`storageBytes`, the largest /home a rental can get) when known, else the free space of
 * the data dir. `systemDiskBytes` is what a rental's / is capped at (null: not capped).
 */
export function probeHardware(dataDir: string, storageBytes: number | null = null, systemDiskBytes?: number | null): Hardware {
  const cpus = os.cpus();
  const fs = statfsSync(dataDir);
  return {
    cpuModel: (cpus[0]?.model ?? 'unknown').trim().slice(0, 200) || 'unknown',
    cores: Math.max(1, cpus.length),
    memoryBytes: os.totalmem(),
    diskBytes: storageBytes ?? Number(fs.bavail) * Number(fs.bsize),
    arch: archNames[os.arch()] ?? os.arch(),
    // The cap on a rental's / (docker/root-disk.ts), once the engine has been asked.
    ...(systemDiskBytes !== undefined ? { systemDiskBytes } : {}),
  };
}
