import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgentProcess, type AgentProcess } from './agent-process.ts';
import { createServer, createSshKey, createUser, openSsh, removeDeviceContainers, tempDir, waitFor, type TestServer } from './harness.ts';

/**
 * The agent a device runs is the built one (packages/agent/bin/p2pvps-agent, one plain
 * JavaScript file from packages/agent/build.mjs; scripts/setup.sh builds it), not the
 * TypeScript the other tests run through tsx. Started as its own process, it enrols, comes
 * online, runs a rental a renter logs in to with OpenSSH, and stops cleanly on SIGTERM.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
let server: TestServer | undefined;
let agent: AgentProcess | undefined;
let deviceId: string | undefined;

after(async () => {
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  agent?.clean();
  await server?.stop();
});

test('the built agent enrols, comes online and runs a rental, without tsx', { timeout: 300_000 }, async () => {
  server = await createServer();
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  const grant = await owner.api.call('addDevice', { body: { name: 'built-agent' } });
  deviceId = grant.device.id;
  const id = deviceId;

  agent = startAgentProcess(server, grant.enrolmentToken, { command: 'built' });
  await waitFor('the device online', async () => (await owner.api.call('getDevice', { params: { deviceId: id } })).online, 120_000).catch(
    (err: Error) => assert.fail(`${err.message}\nthe agent said:\n${agent!.output()}`),
  );
  assert.match(agent.output(), new RegExp(`registered as device ${id}`));
  // The server sees the tunnel before the agent has logged it.
  await waitFor('the agent to log its tunnel', async () => /tunnel up/.test(agent!.output()));
  // bin/p2pvps-agent has handed over to Node by now (exec: the same process).
  const cmdline = readFileSync(`/proc/${agent.pid}/cmdline`, 'utf8').split('\0');
  assert.ok(
    cmdline.some((a) => a.endsWith('packages/agent/dist/agent.mjs')),
    `the process runs the bundle: ${cmdline.join(' ')}`,
  );
  assert.ok(!cmdline.some((a) => a.includes('tsx')), `no tsx loader: ${cmdline.join(' ')}`);

  await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: 1000, onMarket: true } });
  const key = createSshKey();
  const rental = await renter.api.call('rent', { body: { deviceId: id, sshPublicKey: key.publicKey } });
  const ssh = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  let whoami = '';
  await waitFor(
    'ssh into the rental',
    async () => {
      const r = await openSsh(ssh, 'whoami');
      whoami = r.stdout.trim();
      return r.code === 0;
    },
    120_000,
  ).catch((err: Error) => assert.fail(`${err.message}\nthe agent said:\n${agent!.output()}`));
  assert.equal(whoami, rental.connection.username);

  assert.equal(await agent.stop(), 0, `a clean stop on SIGTERM; the agent said:\n${agent.output()}`);
  assert.match(agent.output(), /SIGTERM received; stopping/);
});

test('`p2pvps agent` runs the built agent', async () => {
  const dir = tempDir('cli-agent');
  const config = join(dir, 'device-config.json');
  // A server nobody answers on: the agent keeps trying, which leaves time to look at the process.
  writeFileSync(config, JSON.stringify({ serverUrl: 'http://127.0.0.1:9', enrolmentToken: 'p2pe_nobodyanswers', dataDir: dir }));
  const child = spawn(join(root, 'packages/cli/bin/p2pvps'), ['agent', '--config', config], { stdio: 'ignore' });
  try {
    const cmdline = await waitFor('the agent process', async () => {
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      return argv.some((a) => a.endsWith('.mjs') || a.endsWith('.ts')) && argv;
    });
    assert.ok(
      cmdline.some((a) => a.endsWith('packages/agent/dist/agent.mjs')),
      `the CLI hands over to the bundle: ${cmdline.join(' ')}`,
    );
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
