import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NetshardError } from '../../../src/errors.ts';
import { formatIpv4 } from '../../../src/tcpip/address.ts';
import { IPV4_LINEAR_MAX, RouteTable } from '../../../src/tcpip/stack/route-table.ts';
import { toHex, viewOf } from '../../helpers/hex.ts';
import { ip4, ip6 } from './fixtures.ts';

const Routes = suite('tcpip/stack/route-table');

/** Overlapping prefixes, a default route, and two routes of one prefix with different metrics. */
function v4table(): RouteTable {
  const t = new RouteTable();
  t.add({ destination: '0.0.0.0/0', gateway: '198.18.0.254', nic: 1 });
  t.add({ destination: '198.18.0.0/15', nic: 1 });
  t.add({ destination: '198.18.1.0/24', nic: 2 });
  t.add({ destination: '198.18.1.128/25', gateway: '198.18.1.2', nic: 2, metric: 20 });
  t.add({ destination: '198.18.1.128/25', gateway: '198.18.1.3', nic: 3, metric: 10 });
  t.add({ destination: '198.19.255.7/32', nic: 4 });
  return t;
}

for (const c of [
  { dst: '198.18.1.200', want: '198.18.1.128/25 via 198.18.1.3 nic 3', why: '/25 beats /24 and /15; lower metric wins' },
  { dst: '198.18.1.5', want: '198.18.1.0/24 via on-link nic 2', why: '/24 beats /15' },
  { dst: '198.19.0.1', want: '198.18.0.0/15 via on-link nic 1', why: 'inside the /15 only' },
  { dst: '198.19.255.7', want: '198.19.255.7/32 via on-link nic 4', why: 'host route' },
  { dst: '203.0.113.1', want: '0.0.0.0/0 via 198.18.0.254 nic 1', why: 'default route' },
]) {
  Routes(`IPv4 LPM ${c.dst}: ${c.why}`, () => {
    const t = v4table();
    const i = t.ipv4.lookup(ip4(c.dst));
    const r = t.ipv4.describe()[i]!;
    assert.is(`${r.destination} via ${r.gateway} nic ${r.nic}`, c.want);
    assert.is(t.ipv4.nextHop(i, ip4(c.dst)) >>> 0, r.gateway === 'on-link' ? ip4(c.dst) : ip4(r.gateway));
  });
}

Routes('IPv4: no default route → -1; removal narrows by NIC and gateway', () => {
  const t = v4table();
  assert.is(t.remove({ destination: '0.0.0.0/0' }), 1);
  assert.is(t.ipv4.lookup(ip4('203.0.113.1')), -1);
  assert.is(t.remove({ destination: '198.18.1.128/25', nic: 3 }), 1);
  assert.is(t.ipv4.describe()[t.ipv4.lookup(ip4('198.18.1.200'))]!.gateway, '198.18.1.2');
  assert.is(t.remove({ destination: '198.18.1.128/25', gateway: '198.18.1.9' }), 0);
  assert.is(t.removeNic(2), 2);
  assert.is(t.ipv4.describe()[t.ipv4.lookup(ip4('198.18.1.200'))]!.destination, '198.18.0.0/15');
});

/** mulberry32, seeded: reproducible random tables. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

Routes(`IPv4: past ${IPV4_LINEAR_MAX} routes the trie answers as a reference scan does`, () => {
  const rand = prng(7);
  const t = new RouteTable();
  const routes: { network: number; length: number; nic: number; metric: number }[] = [];
  t.add({ destination: '0.0.0.0/0', nic: 1 });
  routes.push({ network: 0, length: 0, nic: 1, metric: 0 });
  while (routes.length < 300) {
    const length = [8, 15, 16, 24, 25, 30, 32][rand() % 7]!;
    const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
    const network = (rand() & mask) >>> 0;
    const nic = 1 + (rand() % 8), metric = rand() % 3;
    try {
      t.add({ destination: `${formatIpv4(network)}/${length}`, nic, metric });
      routes.push({ network, length, nic, metric });
    } catch { /* a duplicate draw */ }
  }
  for (let k = 0; k < 3000; k++) {
    const pick = routes[rand() % routes.length]!;
    const dst = k % 2 === 0 ? rand() >>> 0 : (pick.network | (rand() & 0xff)) >>> 0;
    // Reference: longest prefix, then lowest metric, then first added.
    let best: (typeof routes)[number] | undefined;
    for (const r of routes) {
      const mask = r.length === 0 ? 0 : (0xffffffff << (32 - r.length)) >>> 0;
      if (((dst & mask) >>> 0) !== r.network) continue;
      if (best === undefined || r.length > best.length || (r.length === best.length && r.metric < best.metric)) best = r;
    }
    const i = t.ipv4.lookup(dst);
    assert.is(t.ipv4.prefixLength[i], best!.length, `dst ${formatIpv4(dst)}`);
    assert.is(t.ipv4.nic[i], best!.nic, `dst ${formatIpv4(dst)}`);
  }
});

function v6table(): RouteTable {
  const t = new RouteTable();
  t.add({ destination: '::/0', gateway: '2001:2::ffff', nic: 1 });
  t.add({ destination: '2001:2::/48', nic: 1 });
  t.add({ destination: '2001:2:0:1::/64', nic: 2 });
  t.add({ destination: '2001:2:0:1:8000::/65', gateway: 'fe80::1', nic: 3 });
  t.add({ destination: '2001:2:0:1::77/128', nic: 4 });
  return t;
}

for (const c of [
  { dst: '2001:2:0:1:8000::5', want: 3, why: '/65 beats /64 (the mask crosses a 32-bit word inside the second half)' },
  { dst: '2001:2:0:1::5', want: 2, why: '/64' },
  { dst: '2001:2:0:1::77', want: 4, why: '/128 host route' },
  { dst: '2001:2:ffff::1', want: 1, why: '/48' },
  { dst: '2001:db8::1', want: 1, why: 'default route' },
]) {
  Routes(`IPv6 LPM ${c.dst}: ${c.why}`, () => {
    const t = v6table();
    const bytes = new Uint8Array(24);
    bytes.set(ip6(c.dst), 5); // at an odd offset in a larger buffer
    const i = t.ipv6.lookup(viewOf(bytes), 5);
    assert.is(t.ipv6.nic[i], c.want);
  });
}

Routes('IPv6: gateway bytes at 16 * index; no route → -1', () => {
  const t = v6table();
  const dst = viewOf(ip6('2001:2:0:1:8000::5'));
  const i = t.ipv6.lookup(dst, 0);
  assert.is(t.ipv6.hasGateway[i], 1);
  assert.is(toHex(t.ipv6.gatewayBytes.subarray(16 * i, 16 * i + 16)), toHex(ip6('fe80::1')));
  assert.is(t.ipv6.hasGateway[t.ipv6.lookup(viewOf(ip6('2001:2::9')), 0)], 0);
  t.remove({ destination: '::/0' });
  assert.is(t.ipv6.lookup(viewOf(ip6('2001:db8::1')), 0), -1);
  assert.equal(t.ipv6.describe().map((r) => r.destination), ['2001:2:0:1::77/128', '2001:2:0:1:8000::/65', '2001:2:0:1::/64', '2001:2::/48']);
});

Routes('tables grow past their first capacity', () => {
  const t = new RouteTable();
  for (let i = 0; i < 40; i++) t.add({ destination: `2001:2:0:${i.toString(16)}::/64`, nic: 1 + (i % 3) });
  assert.is(t.ipv6.count, 40);
  assert.is(t.ipv6.nic[t.ipv6.lookup(viewOf(ip6('2001:2:0:27::1')), 0)], 1 + (0x27 % 3));
});

for (const c of [
  { name: 'host bits set', route: { destination: '198.18.0.1/24', nic: 1 }, code: 'EINVAL' },
  { name: 'IPv6 host bits set', route: { destination: '2001:2::1/64', nic: 1 }, code: 'EINVAL' },
  { name: 'duplicate', route: { destination: '198.18.0.0/15', nic: 1 }, code: 'EEXIST' },
  { name: 'gateway of the other family', route: { destination: '198.18.0.0/16', gateway: '2001:2::1', nic: 1 }, code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'multicast gateway', route: { destination: '198.18.0.0/16', gateway: '224.0.0.1', nic: 1 }, code: 'EINVAL' },
  { name: 'NIC 0', route: { destination: '198.18.0.0/16', nic: 0 }, code: 'ERR_OUT_OF_RANGE' },
  { name: 'unknown key', route: { destination: '198.18.0.0/16', nic: 1, via: 'x' }, code: 'ERR_INVALID_ARG_VALUE' },
]) {
  Routes(`add errors: ${c.name} → ${c.code}`, () => {
    try {
      v4table().add(c.route as never);
      assert.unreachable('should throw');
    } catch (err) {
      assert.instance(err, NetshardError);
      assert.is((err as NetshardError).code, c.code, (err as Error).message);
    }
  });
}

Routes.run();
