import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { storageMountDir } from '@p2pvps/agent/storage/renter-storage';
import { makeCappedNetwork, makeCgroup } from './device-limits.ts';
import { createServer, createUser, portBlock, removeDeviceContainers, renterImage, tempDir, waitFor } from './harness.ts';

const mib = 2 ** 20;
const capMbit = 8;
const memoryLimit = 384 * mib;

/**
 * A real agent, as `p2pvps agent` runs it, in a cgroup that gives it one CPU and 384 MiB
 * while the machine reports more (so the hardware it claims is more than it can give), in a
 * network namespace whose uplink `tc` caps at 8 Mbit/s. The server's benchmark must catch the
 * claims, keep the device off the market and tell its owner, and its own timing of the tunnel
 * must come out near the cap.
 */
test('a device that claims more than its cgroup allows is flagged and kept off the market; the server times its tunnel at the tc cap', async () => {
  const server = await createServer({ env: { P2PVPS_BENCHMARK_INTERVAL_HOURS: '1' } });
  const owner = await createUser(server, 'owner', 0);
  const grant = await owner.api.call('addDevice', { body: { name: 'small-pi' } });
  const deviceId = grant.device.id;
  const dir = tempDir('bench-lab');
  const dataDir = tempDir('agent');
  const network = await makeCappedNetwork({ mbit: capMbit, httpPort: server.httpPort, gatewayPort: server.gatewayPort, dir }).catch(
    async (err) => {
      await server.stop();
      throw err;
    },
  );
  const cgroup = makeCgroup({ cpus: 1, memoryBytes: memoryLimit });
  const configFile = join(dataDir, 'device-config.json');
  const sshPort = portBlock(3);
  writeFileSync(
    configFile,
    JSON.stringify({
      serverUrl: `http://127.0.0.1:${server.httpPort}`,
      enrolmentToken: grant.enrolmentToken,
      dataDir,
      storage: { kind: 'image', sizeMiB: 64 },
      wipe: 'discard',
    }),
  );
  const agent = spawn(
    'nsenter',
    [
      `--net=${network.netnsPath}`,
      '--',
      'sh',
      '-c',
      `${cgroup.enter} exec "${process.execPath}" --import tsx packages/cli/src/main.ts agent --config "${configFile}"`,
    ],
    {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'ignore', process.env.P2PVPS_TEST_LOG ? 'inherit' : 'ignore'],
      env: {
        ...process.env,
        P2PVPS_CONTAINER_NETWORK: 'host',
        P2PVPS_CONTAINER_SSH_PORT: String(sshPort),
        P2PVPS_CONTAINER_HTTP_PORT: String(sshPort + 1),
        P2PVPS_CONTAINER_HTTPS_PORT: String(sshPort + 2),
        P2PVPS_RENTER_IMAGE: renterImage,
      },
    },
  );
  try {
    await waitFor('the device to come online', async () => (await owner.api.call('getDevice', { params: { deviceId } })).online, 60_000);
    await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 10_000, onMarket: true } });
    const device = await waitFor(
      'the benchmark verdict',
      async () => {
        const d = await owner.api.call('getDevice', { params: { deviceId } });
        return d.verified ? d : null;
      },
      90_000,
      250,
    );
    const v = device.verified!;
    // The figures the closing note reports: what this machine's device claims against what its limits allow.
    console.log(`benchmark in a 1-CPU, ${memoryLimit / mib} MiB cgroup behind a ${capMbit} Mbit/s tc cap: ${JSON.stringify(v)}`);

    // It reports the machine's hardware, not the cgroup's; it is held to what it sells, the
    // default offer (1 core, 512 MiB a rental), whose memory the cgroup does not have.
    assert.equal(device.hardware?.cores, os.cpus().length);
    assert.equal(v.cores.claimed, 1);
    assert.equal(v.memoryBytes.claimed, 512 * mib);
    assert.equal(v.passed, false);
    assert.equal(v.memoryBytes.ok, false, 'memory beyond the cgroup cannot be touched');
    assert.ok(v.memoryBytes.measured! < memoryLimit, `touched ${v.memoryBytes.measured} bytes in a ${memoryLimit}-byte cgroup`);
    assert.ok(v.cores.measured! < 1.5, `scaled over ${v.cores.measured} cores with one CPU of quota`);
    // The owner sees why, and the market does not show it.
    assert.equal(device.listed, false);
    assert.match(device.hardwareFlag ?? '', /could be allocated and used/);
    const listings = (await server.api.call('market', { query: {} })).listings;
    assert.equal(
      listings.some((l) => l.deviceId === deviceId),
      false,
    );

    // The server's own measurement of the tunnel, through the capped veth.
    assert.ok(v.tunnelMbit !== null, 'the server measured the tunnel');
    assert.ok(
      v.tunnelMbit! > capMbit * 0.6 && v.tunnelMbit! < capMbit * 1.15,
      `the tunnel carried ${v.tunnelMbit} Mbit/s through a ${capMbit} Mbit/s cap`,
    );
  } finally {
    agent.kill('SIGKILL');
    await new Promise((r) => (agent.exitCode !== null ? r(null) : agent.once('exit', r)));
    await removeDeviceContainers(deviceId);
    spawnSync('umount', [storageMountDir(dataDir)]);
    await network.destroy();
    cgroup.destroy();
    rmSync(dir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
    await server.stop();
  }
});
