import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { checkRuntime, runtimeHostConfig, RuntimeUnavailable } from './container-runtime.ts';

/** An engine whose `docker info` says what the test gives (the real engines are in e2e/gvisor-runtime.test.ts). */
const engine = (info: object) => ({ info: async () => info }) as unknown as Docker;
const runsc = { path: '/usr/bin/runsc', runtimeArgs: ['--platform=ptrace', '--network=host'] };

test('runc needs nothing registered; runsc must be, and a userns-remap engine is noticed', async () => {
  assert.deepEqual(await checkRuntime(engine({ Runtimes: { runc: { path: 'runc' } }, SecurityOptions: [] }), 'runc'), {
    runtime: 'runc',
    usernsRemap: false,
  });
  const remapped = engine({
    Runtimes: { runc: { path: 'runc' }, runsc },
    SecurityOptions: ['name=seccomp,profile=default', 'name=userns'],
  });
  assert.deepEqual(await checkRuntime(remapped, 'runsc'), { runtime: 'runsc', usernsRemap: true });
});

test('runsc missing or run without a network is refused at start with what to do', async () => {
  await assert.rejects(checkRuntime(engine({ Runtimes: { runc: { path: 'runc' } } }), 'runsc'), (err: Error) => {
    assert.ok(err instanceof RuntimeUnavailable);
    assert.match(err.message, /no runtime of that name \(it has: runc\)/);
    assert.match(err.message, /install-agent\.sh --gvisor/);
    return true;
  });
  const noNetwork = engine({ Runtimes: { runsc: { path: '/usr/bin/runsc', runtimeArgs: ['--network=none'] } } });
  await assert.rejects(checkRuntime(noNetwork, 'runsc'), /no network.*--network=host/);
});

test("under runsc the container asks for gVisor, may bind low ports, and leaves a userns-remap engine's remap", () => {
  assert.deepEqual(runtimeHostConfig({ runtime: 'runc', usernsRemap: true }), { Runtime: 'runc', CapAdd: [] });
  assert.deepEqual(runtimeHostConfig({ runtime: 'runsc', usernsRemap: false }), { Runtime: 'runsc', CapAdd: ['NET_BIND_SERVICE'] });
  assert.deepEqual(runtimeHostConfig({ runtime: 'runsc', usernsRemap: true }), {
    Runtime: 'runsc',
    CapAdd: ['NET_BIND_SERVICE'],
    UsernsMode: 'host',
  });
});
