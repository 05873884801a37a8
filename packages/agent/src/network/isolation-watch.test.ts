import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { timing } from '@p2pvps/protocol/timing';
import { IsolationWatch, type IsolationWatchOptions, type Timers } from './isolation-watch.ts';
import { RenterIsolation, renterBridge, type Exec } from './isolation.ts';
import { lab, NetnsLab, netnsTestsPossible } from './netns-lab.ts';

/** Timers the test fires by hand. */
function manualTimers() {
  const pending = new Map<number, { fn: () => void; ms: number }>();
  let next = 1;
  const timers: Timers = {
    setTimeout: (fn, ms) => (pending.set(next, { fn, ms }), next++),
    clearTimeout: (h) => void pending.delete(h as number),
  };
  return {
    timers,
    pending,
    fire(): void {
      const [id, t] = [...pending][0]!;
      pending.delete(id);
      t.fn();
    },
  };
}

function recorder() {
  const logs: [string, string][] = [];
  const calls = { stopRenter: 0, restored: 0 };
  return {
    logs,
    calls,
    options: {
      stopRenter: async () => void calls.stopRenter++,
      restored: () => void calls.restored++,
      log: (level: string, msg: string) => void logs.push([level, msg]),
    },
  };
}

test('when the rules cannot be restored the renter is stopped, once logged; when they hold again the agent is told', async () => {
  let problems = ['iptables: the chain P2PVPS-FORWARD is empty or gone'];
  let applies = 0;
  const isolation = {
    verify: async () => problems,
    apply: async () => {
      applies++;
      throw new Error('iptables-restore exited with 4: Another app is currently holding the xtables lock');
    },
  };
  const r = recorder();
  const watch = new IsolationWatch({ isolation, ...r.options, timers: manualTimers().timers });
  assert.equal(await watch.check(), 'breached');
  assert.equal(applies, 1, 'a repair was tried first');
  assert.equal(r.calls.stopRenter, 1);
  assert.deepEqual(
    r.logs.map(([level]) => level),
    ['warn', 'error'],
  );
  assert.match(r.logs[1]![1], /could not be restored \(iptables-restore exited with 4.*stopping the renter's container/);
  // Still broken: stopped again (in case it was started meanwhile), without another error line.
  assert.equal(await watch.check(), 'breached');
  assert.equal(r.calls.stopRenter, 2);
  assert.equal(r.logs.filter(([level]) => level === 'error').length, 1);
  assert.equal(r.calls.restored, 0);
  problems = [];
  assert.equal(await watch.check(), 'held');
  assert.equal(r.calls.restored, 1, 'the agent may start the container again');
  assert.equal(await watch.check(), 'held');
  assert.equal(r.calls.restored, 1);
});

test('a firewall that cannot even be read counts as broken; a repair that does not hold too', async () => {
  const r = recorder();
  const unreadable = { verify: async () => Promise.reject(new Error('iptables-save: not found')), apply: async () => undefined };
  assert.equal(await new IsolationWatch({ isolation: unreadable, ...r.options }).check(), 'breached');
  assert.equal(r.calls.stopRenter, 1);
  const r2 = recorder();
  const notHolding = { verify: async () => ['iptables: INPUT does not jump to P2PVPS-INPUT first'], apply: async () => undefined };
  assert.equal(await new IsolationWatch({ isolation: notHolding, ...r2.options }).check(), 'breached');
  assert.equal(r2.calls.stopRenter, 1);
  assert.match(r2.logs.at(-1)![1], /still: iptables: INPUT does not jump/);
});

test('the watch checks every isolationCheckIntervalMs while there is a rental, one check at a time; close() is idempotent', async () => {
  const clock = manualTimers();
  let verifies = 0;
  let active = false;
  const isolation = { verify: async () => (verifies++, []), apply: async () => undefined };
  const watch = new IsolationWatch({ isolation, ...recorder().options, timers: clock.timers, active: () => active });
  watch.start();
  watch.start();
  assert.equal(clock.pending.size, 1, 'one timer, however often started');
  assert.equal([...clock.pending.values()][0]!.ms, timing.isolationCheckIntervalMs);
  clock.fire();
  await new Promise((r) => setImmediate(r));
  assert.equal(verifies, 0, 'no rental: nothing checked');
  assert.equal(clock.pending.size, 1, 'the next check is scheduled after this one');
  active = true;
  clock.fire();
  await new Promise((r) => setImmediate(r));
  assert.equal(verifies, 1);
  assert.equal(clock.pending.size, 1);
  await watch.close();
  await watch.close();
  assert.equal(clock.pending.size, 0);
  watch.start();
  assert.equal(clock.pending.size, 0, 'a closed watch stays closed');
});

const skip = netnsTestsPossible();

describe('in network namespaces the test creates: rules another tool removes come back', { skip }, () => {
  const net = new NetnsLab();
  let exec: Exec;
  let failing = false;
  let isolation: RenterIsolation;
  const r = recorder();
  let watch: IsolationWatch;
  const homeReachable = async (host: string = lab.home) => (await net.connect(net.ns.renter, host, 8080)).text === 'home\n';

  before(async () => {
    net.create(renterBridge);
    await net.serve(net.ns.home, 'home', ['8080:name', '8083:echo']);
    await net.serve(net.ns.internet, 'internet', ['8080:name']);
    const inDevice = net.execIn(net.ns.device);
    // The device's iptables, unless the test makes iptables-restore fail.
    exec = (argv, input) =>
      failing && /-restore$/.test(argv[0]!)
        ? Promise.reject(new Error(`${argv[0]} exited with 4: simulated failure`))
        : inDevice(argv, input);
    isolation = new RenterIsolation({ allow: [], uploadMbit: 0, downloadMbit: 0, exec });
    await isolation.apply();
    watch = new IsolationWatch({ isolation, ...r.options, timers: manualTimers().timers });
    assert.equal(await homeReachable(), false);
    assert.equal(await watch.check(), 'held');
  });

  after(async () => {
    await watch?.close();
    net.destroy();
  });

  /** Runs a command in the device as another tool would, checks the home is open, then that one check closes it again. */
  async function drift(argv: string[], input?: string, host: string = lab.home): Promise<void> {
    await net.execIn(net.ns.device)(argv, input);
    assert.equal(await homeReachable(host), true, `${argv.join(' ')} opened the home network (what the watch is for)`);
    assert.equal(await watch.check(), 'restored', argv.join(' '));
    assert.equal(await homeReachable(host), false, `closed again after ${argv.join(' ')}`);
    assert.equal(await watch.check(), 'held');
  }

  test('iptables -F and ip6tables -F', async () => {
    await drift(['iptables', '-F']);
    await drift(['ip6tables', '-F'], undefined, lab.home6);
    assert.equal((await net.connect(net.ns.renter, lab.internet, 8080)).text, 'internet\n', 'the internet stays open');
  });

  test('the jump deleted from DOCKER-USER, or a rule put before it', async () => {
    await drift(['iptables', '-D', 'DOCKER-USER', '-i', renterBridge, '-j', 'P2PVPS-FORWARD']);
    await drift(['iptables', '-I', 'DOCKER-USER', '1', '-j', 'ACCEPT']);
  });

  test('a firewall reload that replaces the whole filter table (firewalld, netfilter-persistent, ufw)', async () => {
    await drift(['iptables-restore'], '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
  });

  test('a new network on the device (a DHCP lease, a new interface) is closed at the next check', async () => {
    const device = net.execIn(net.ns.device);
    const home = net.execIn(net.ns.home);
    // 192.0.2.0/24 (TEST-NET-1) stands in for a home network on public addresses, which no fixed list names.
    await home(['ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'lan0']);
    await device(['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'lan0']);
    assert.equal(await homeReachable('192.0.2.2'), true);
    assert.equal(await watch.check(), 'restored');
    assert.match(r.logs.find(([, m]) => m.includes('192.0.2.0/24'))![1], /IPv4 networks changed \(\+192\.0\.2\.0\/24\)/);
    assert.equal(await homeReachable('192.0.2.2'), false);
  });

  test('a connection the renter opened while the rules were gone is cut when they come back', async () => {
    // Docker masquerades what leaves its bridges; that also keeps connection tracking on in the
    // device while the filter table is flushed (without it the kernel would forget the connection).
    await net.execIn(net.ns.device)([
      'iptables',
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-s',
      '10.213.0.0/24',
      '!',
      '-o',
      renterBridge,
      '-j',
      'MASQUERADE',
    ]);
    await net.execIn(net.ns.device)(['iptables', '-F']);
    const conn = net.openEcho(net.ns.renter, lab.home, 8083);
    assert.equal(await conn.say('opened while the rules were gone'), 'opened while the rules were gone');
    assert.equal(await watch.check(), 'restored');
    assert.equal(await conn.say('after the repair'), 'timeout', 'nothing more reaches the home host on it');
  });

  test('with the real timer, rules flushed come back by themselves within a few checks', async () => {
    const timed = new IsolationWatch({ isolation, ...r.options, intervalMs: 200 });
    timed.start();
    try {
      await net.execIn(net.ns.device)(['iptables', '-F']);
      const deadline = Date.now() + 10_000;
      while ((await homeReachable()) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      assert.equal(await homeReachable(), false, 'the home host is unreachable again');
    } finally {
      await timed.close();
    }
  });

  test('rules that cannot be restored stop the renter; once they can, the agent is told', async () => {
    const before = r.calls.stopRenter;
    failing = true;
    try {
      await net.execIn(net.ns.device)(['iptables', '-F']);
      assert.equal(await watch.check(), 'breached');
      assert.equal(r.calls.stopRenter, before + 1, "the renter's container is stopped");
      assert.match(r.logs.at(-1)![1], /could not be restored .*simulated failure/);
    } finally {
      failing = false;
    }
    assert.equal(await watch.check(), 'restored');
    assert.equal(r.calls.restored, 1);
    assert.equal(await homeReachable(), false);
  });
});
