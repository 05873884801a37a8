import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { homeNetworks, ipv6Prefix } from './home-ranges.ts';
import { parseCidr, RenterIsolation, renterBridge } from './isolation.ts';
import { lab, NetnsLab, netnsTestsPossible } from './netns-lab.ts';

test('allow-list entries are CIDRs or addresses, IPv4 or IPv6', () => {
  assert.deepEqual(parseCidr('192.168.1.10'), { family: 4, cidr: '192.168.1.10/32' });
  assert.deepEqual(parseCidr('10.0.0.0/8'), { family: 4, cidr: '10.0.0.0/8' });
  assert.deepEqual(parseCidr('fd00::/8'), { family: 6, cidr: 'fd00::/8' });
  for (const bad of ['', 'example.org', '10.0.0.0/33', '10.0.0.0/8/1', 'fd00::/129', '1.2.3.4/x']) assert.equal(parseCidr(bad), null, bad);
});

test('the ruleset lets replies and allowed destinations through, rejects the blocked ranges and the host', () => {
  const iso = new RenterIsolation({ allow: ['192.168.1.10', 'fd12::/64'], uploadMbit: 0, downloadMbit: 0 });
  const v4 = iso.ruleset(4, ['203.0.113.0/24']);
  const forward = v4.split('\n').filter((l) => l.startsWith('-A P2PVPS-FORWARD'));
  assert.match(forward[0]!, /ESTABLISHED --ctdir REPLY -j RETURN$/, 'answers only, not connections the renter opened');
  assert.equal(forward[1], '-A P2PVPS-FORWARD -d 192.168.1.10/32 -j RETURN', 'the allow-list comes before the blocks');
  for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '224.0.0.0/4', '203.0.113.0/24'])
    assert.ok(forward.includes(`-A P2PVPS-FORWARD -d ${cidr} -j REJECT --reject-with icmp-admin-prohibited`), cidr);
  assert.ok(!v4.includes('fd12::'), 'IPv6 entries only in the IPv6 set');
  assert.match(v4, /-A P2PVPS-INPUT -j REJECT --reject-with icmp-admin-prohibited\nCOMMIT/);
  const v6 = iso.ruleset(6, []);
  for (const cidr of ['fc00::/7', 'fe80::/10', 'ff00::/8', '64:ff9b::/96', '64:ff9b:1::/48', '2002::/16', '2001::/32', '::ffff:0:0/96'])
    assert.ok(v6.includes(`-d ${cidr} -j REJECT`), cidr);
  assert.ok(v6.includes('-A P2PVPS-FORWARD -d fd12::/64 -j RETURN'));
});

test("the home's networks are every route but the default: connected, via a gateway, in any table, with the delegated IPv6 prefix", () => {
  const routes = [
    { dst: 'default', gateway: '192.168.1.1', dev: 'eth0' },
    { dst: '192.168.1.0/24', dev: 'eth0' },
    { dst: '203.0.113.0/24', gateway: '192.168.1.1', dev: 'eth0' }, // a public-range network behind a router
    { dst: '198.51.100.0/24', dev: 'wg0', table: '51820' }, // a VPN's, in its own table
    { dst: '0.0.0.0/1', gateway: '10.8.0.1', dev: 'tun0' }, // a VPN taking all traffic: the internet
    { dst: '128.0.0.0/1', gateway: '10.8.0.1', dev: 'tun0' },
    { dst: '172.18.0.0/16', dev: 'p2pvps0' }, // the renter bridge's own
    { type: 'local', dst: '192.168.1.5', dev: 'eth0', table: 'local' },
    { type: 'broadcast', dst: '192.168.1.255', dev: 'eth0', table: 'local' },
    { type: 'blackhole', dst: '192.0.2.0/24' },
    { dst: '2001:db8:77:1::/64', dev: 'eth0' },
    { dst: '2000::/3', dev: 'tun0' },
    { dst: 'fd00:1::/64', dev: 'eth0' },
    { dst: 'fe80::/64', dev: 'veth1a2b3c' }, // a container's veth: link-local, blocked anyway, comes and goes
  ];
  assert.deepEqual(homeNetworks(routes, 4, ['p2pvps0', 'lo']), ['192.168.1.0/24', '198.51.100.0/24', '203.0.113.0/24']);
  // The home's other /64s are routed through the home router; the /48 around the device's covers them.
  assert.deepEqual(homeNetworks(routes, 6, ['p2pvps0', 'lo']), ['2001:db8:77:1::/64', '2001:db8:77::/48', 'fd00:1::/64']);
  assert.equal(ipv6Prefix('2a01:4f8:c2c:1234:5678::1', 48), '2a01:4f8:c2c::');
  assert.equal(ipv6Prefix('2001:db8:0:0:1::', 48), '2001:db8::');
  assert.equal(ipv6Prefix('2001:db8:ffff:ffff::', 36), '2001:db8:f000::');
});

const skip = netnsTestsPossible();

describe('in network namespaces the test creates', { skip }, () => {
  const net = new NetnsLab();
  const isolation = (o: { allow?: string[]; uploadMbit?: number; downloadMbit?: number } = {}) =>
    new RenterIsolation({ allow: [], uploadMbit: 0, downloadMbit: 0, ...o, exec: net.execIn(net.ns.device) });

  before(async () => {
    net.create(renterBridge);
    await net.serve(net.ns.home, 'home', ['8080:name']);
    await net.serve(net.ns.device, 'device', ['8080:name']);
    await net.serve(net.ns.renter, 'renter', ['2222:name']);
    await net.serve(net.ns.internet, 'internet', ['8080:name', '8081:source:1048576', '8082:sink']);
    // Before any rules: the lab works, and the renter reaches everything.
    assert.equal((await net.connect(net.ns.renter, lab.home, 8080)).text, 'home\n');
    assert.equal((await net.connect(net.ns.renter, lab.internet, 8080)).text, 'internet\n');
    assert.equal((await net.connect(net.ns.renter, lab.home6, 8080)).text, 'home\n');
    assert.equal((await net.connect(net.ns.renter, lab.internet6, 8080)).text, 'internet\n');
    for (const home of [lab.homeBehindGateway, lab.homeOtherPrefix6, lab.homeNat64, lab.home6to4])
      assert.equal((await net.connect(net.ns.renter, home, 8080)).text, 'home\n', home);
    await isolation().apply();
  });

  after(() => net.destroy());

  test('the renter reaches the internet host but not the home network', async () => {
    assert.equal((await net.connect(net.ns.renter, lab.internet, 8080)).text, 'internet\n');
    const home = await net.connect(net.ns.renter, lab.home, 8080);
    assert.equal(home.ok, false, 'the home host is unreachable');
    assert.notEqual(home.error, 'timeout', 'rejected at once, not left to time out');
  });

  test('over IPv6 too: the internet host yes, the home network (ULA) and the device no', async () => {
    assert.equal((await net.connect(net.ns.renter, lab.internet6, 8080)).text, 'internet\n');
    assert.equal((await net.connect(net.ns.renter, lab.home6, 8080)).ok, false);
    assert.equal((await net.connect(net.ns.renter, lab.deviceLan6, 8080)).ok, false);
    assert.equal((await net.connect(net.ns.renter, lab.bridgeAddress6, 8080)).ok, false);
  });

  test('nor the rest of the home: a network behind a gateway, the delegated prefix, NAT64 and 6to4 addresses', async () => {
    for (const home of [lab.homeBehindGateway, lab.homeOtherPrefix6, lab.homeNat64, lab.home6to4]) {
      const r = await net.connect(net.ns.renter, home, 8080);
      assert.equal(r.ok, false, `${home}: ${JSON.stringify(r)}`);
      assert.notEqual(r.error, 'timeout', `${home}: rejected at once`);
    }
    assert.equal((await net.connect(net.ns.renter, lab.deviceLanGlobal6, 8080)).ok, false);
  });

  test("the renter reaches none of the device's own addresses, but the device reaches the renter (the sshd forwarding)", async () => {
    assert.equal((await net.connect(net.ns.renter, lab.deviceLan, 8080)).ok, false);
    assert.equal((await net.connect(net.ns.renter, lab.bridgeAddress, 8080)).ok, false);
    assert.equal((await net.connect(net.ns.device, lab.renter, 2222)).text, 'renter\n');
  });

  test("the device's directly connected networks are blocked too, whatever their addresses; the renter bridge's own is not", async () => {
    const connected = await isolation().connectedNetworks();
    assert.deepEqual(connected[4], ['192.168.77.0/24', '198.51.100.0/24']);
    for (const cidr of ['fd00:77::/64', '2001:db8:77:1::/64', '2001:db8:77::/48'])
      assert.ok(connected[6].includes(cidr), JSON.stringify(connected[6]));
    assert.ok(!connected[6].includes('fd00:213::/64'));
  });

  test('applying again changes nothing; an allow-list entry opens one home address', async () => {
    await isolation().apply();
    const rules = await net.execIn(net.ns.device)(['iptables', '-S']);
    assert.equal(rules.match(/-j P2PVPS-FORWARD/g)?.length, 1, 'one jump, however often it is applied');
    await isolation({ allow: [`${lab.home}/32`] }).apply();
    assert.equal((await net.connect(net.ns.renter, lab.home, 8080)).text, 'home\n');
    assert.equal((await net.connect(net.ns.renter, lab.deviceLan, 8080)).ok, false, 'the device itself stays closed');
    await isolation().apply();
    assert.equal((await net.connect(net.ns.renter, lab.home, 8080)).ok, false, 'closed again without the entry');
  });

  test('bandwidth caps up and down hold, roughly', async (t) => {
    const bytes = 1024 * 1024;
    const uncapped = await net.connect(net.ns.renter, lab.internet, 8081, { timeoutMs: 10_000 });
    assert.equal(uncapped.bytes, bytes);
    await isolation({ uploadMbit: 4, downloadMbit: 4 }).apply();
    try {
      // 1 MiB at 4 Mbit/s (500 kB/s) takes about 2.1 s; allow from 1.3 s (bursts) to 7 s (a busy machine).
      const down = await net.connect(net.ns.renter, lab.internet, 8081, { timeoutMs: 10_000 });
      assert.equal(down.bytes, bytes, JSON.stringify(down));
      assert.ok(down.ms > 1300 && down.ms < 7000, `download took ${down.ms} ms (uncapped ${uncapped.ms} ms)`);
      const up = await net.connect(net.ns.renter, lab.internet, 8082, { send: bytes, timeoutMs: 10_000 });
      assert.equal(up.text, String(bytes), JSON.stringify(up));
      assert.ok(up.ms > 1300 && up.ms < 7000, `upload took ${up.ms} ms`);
      t.diagnostic(`1 MiB at 4 Mbit/s: down ${down.ms} ms, up ${up.ms} ms (uncapped down ${uncapped.ms} ms)`);
      // The caps do not open the firewall.
      assert.equal((await net.connect(net.ns.renter, lab.home, 8080)).ok, false);
    } finally {
      await isolation().apply();
    }
    const again = await net.connect(net.ns.renter, lab.internet, 8081, { timeoutMs: 10_000 });
    assert.ok(again.ms < 1300, `uncapped again: ${again.ms} ms`);
  });

  test("a rental's bandwidth caps it both ways; the tighter of it and the owner's cap holds", async () => {
    const exec = net.execIn(net.ns.device);
    const rates = async () =>
      [...(await exec(['tc', 'qdisc', 'show'])).matchAll(/qdisc tbf \S+ dev (\S+) .*?rate (\S+)/g)].map((m) => `${m[1]} ${m[2]}`).sort();
    const iso = isolation({ uploadMbit: 50 });
    try {
      iso.setRentalCap(20);
      await iso.apply();
      assert.deepEqual(
        await rates(),
        ['p2pvps0 20Mbit', 'p2pvps0-ifb 20Mbit'],
        'down (the bridge) and up (its ifb) at the rented 20 Mbit/s',
      );
      iso.setRentalCap(null);
      await iso.apply();
      assert.deepEqual(await rates(), ['p2pvps0-ifb 50Mbit'], "without one, the owner's caps alone");
    } finally {
      await isolation().apply();
    }
  });

  test('verify() finds caps that went away (a restarted engine makes the bridge anew without them), and apply() puts them back', async () => {
    const exec = net.execIn(net.ns.device);
    const iso = isolation();
    try {
      iso.setRentalCap(20);
      await iso.apply();
      assert.deepEqual(await iso.verify(), []);
      assert.ok(iso.appliedFor(20) && !iso.appliedFor(null), 'it knows which rental cap is in place');
      await exec(['tc', 'qdisc', 'del', 'dev', 'p2pvps0', 'root']);
      await exec(['tc', 'qdisc', 'del', 'dev', 'p2pvps0', 'ingress']);
      assert.deepEqual(await iso.verify(), ['the download cap on p2pvps0 is gone', 'the upload cap on p2pvps0 is gone']);
      await iso.apply();
      assert.deepEqual(await iso.verify(), []);
    } finally {
      await isolation().apply();
    }
  });

  test('remove() takes every rule and cap away', async () => {
    await isolation({ uploadMbit: 4, downloadMbit: 4 }).apply();
    await isolation().remove();
    const exec = net.execIn(net.ns.device);
    assert.doesNotMatch(await exec(['iptables', '-S']), /P2PVPS/);
    assert.doesNotMatch(await exec(['ip6tables', '-S']), /P2PVPS/);
    assert.doesNotMatch(await exec(['tc', 'qdisc', 'show']), /tbf|ingress/);
    assert.equal((await net.connect(net.ns.renter, lab.home, 8080)).text, 'home\n');
  });
});
