import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NetshardError } from '../../../src/errors.ts';
import { NIC_MAX_ADDRESSES, NicTable, parseCidr } from '../../../src/tcpip/stack/nic.ts';
import { toHex, viewOf } from '../../helpers/hex.ts';
import { ip4, ip6 } from './fixtures.ts';

const Nics = suite('tcpip/stack/nic');

function table(): NicTable {
  const t = new NicTable();
  t.add({ name: 'eth0', linkAddress: '02:00:00:00:00:02' });
  t.add({ name: 'eth1', linkAddress: '02:00:00:00:01:02', mtu: 9000, ipv6LinkLocal: true });
  t.addAddress(1, '198.18.0.2/24');
  t.addAddress(1, '2001:2::2/64');
  t.addAddress(2, '198.18.1.1/24');
  t.addAddress(2, '198.18.2.1/31');
  return t;
}

Nics('ids count from 1; MAC, MTU and names are kept', () => {
  const t = table();
  assert.is(t.count, 2);
  assert.is(t.get(0), undefined);
  assert.is(t.get(1)!.name, 'eth0');
  assert.is(t.get(2)!.mtu, 9000);
  assert.is(t.get(1)!.mtu, 1500);
  assert.is(toHex(t.get(2)!.linkAddress), '020000000102');
  assert.is(t.byName('eth1')!.id, 2);
  assert.is(t.get(3), undefined);
});

Nics('EUI-64 link-local from the MAC (RFC 4291 App. A): U/L bit flipped, ff:fe inserted', () => {
  const t = table();
  const nic = t.get(2)!;
  assert.is(nic.ipv6Count, 1);
  assert.is(toHex(nic.ipv6Bytes.subarray(0, 16)), 'fe80000000000000' + '000000fffe000102');
  assert.equal(t.describe()[1]!.addresses, ['198.18.1.1/24', '198.18.2.1/31', 'fe80::ff:fe00:102/64']);
});

for (const c of [
  { name: 'ours on eth0', address: '198.18.0.2', nic: 1, anyNic: 1 },
  { name: 'ours on eth1', address: '198.18.1.1', nic: 2, anyNic: 2 },
  { name: 'a neighbor', address: '198.18.0.1', nic: 0, anyNic: 0 },
]) {
  Nics(`IPv4 lookup: ${c.name}`, () => {
    const t = table();
    assert.is(t.get(1)!.hasIpv4Address(ip4(c.address)), c.nic === 1);
    assert.is(t.findIpv4(ip4(c.address)), c.anyNic);
  });
}

for (const c of [
  { name: 'limited broadcast', address: '255.255.255.255', nic: 1, want: true },
  { name: 'directed broadcast of /24', address: '198.18.0.255', nic: 1, want: true },
  { name: 'not a broadcast of another NIC', address: '198.18.1.255', nic: 1, want: false },
  { name: 'a /31 has no broadcast (RFC 3021)', address: '198.18.2.1', nic: 2, want: false },
  { name: 'a host', address: '198.18.0.7', nic: 1, want: false },
]) {
  Nics(`isIpv4Broadcast: ${c.name}`, () => {
    assert.is(table().get(c.nic)!.isIpv4Broadcast(ip4(c.address)), c.want);
  });
}

Nics('IPv6 lookups read 16 bytes at an offset', () => {
  const t = table();
  const bytes = new Uint8Array(40);
  bytes.set(ip6('2001:2::2'), 7);
  bytes.set(ip6('ff02::1:ff00:2'), 23);
  const view = viewOf(bytes);
  assert.ok(t.get(1)!.hasIpv6Address(view, 7));
  assert.not.ok(t.get(2)!.hasIpv6Address(view, 7));
  assert.is(t.findIpv6(view, 7), 1);
  assert.is(t.findIpv6(view, 23), 0);
  assert.ok(t.get(1)!.isIpv6SolicitedNodeOf(view, 23));
  assert.not.ok(t.get(2)!.isIpv6SolicitedNodeOf(view, 23));
});

Nics('source selection: same subnet, else first; IPv6 link-local for link-local targets', () => {
  const t = table();
  assert.is(t.get(2)!.selectIpv4Source(ip4('198.18.2.0')), ip4('198.18.2.1') | 0, 'an int32 word');
  assert.is(t.get(2)!.selectIpv4Source(ip4('203.0.113.9')) >>> 0, ip4('198.18.1.1'));
  assert.is(new NicTable().add({ name: 'x', linkAddress: '02:00:00:00:00:09' }).selectIpv4Source(1), 0);
  t.addAddress(2, '2001:2:0:1::1/64');
  const bytes = new Uint8Array(32);
  bytes.set(ip6('fe80::1'), 0);
  bytes.set(ip6('2001:2:0:1::9'), 16);
  const nic = t.get(2)!;
  assert.is(formatAt(nic.ipv6Bytes, nic.selectIpv6Source(viewOf(bytes), 0)), 'fe80000000000000000000fffe000102');
  assert.is(formatAt(nic.ipv6Bytes, nic.selectIpv6Source(viewOf(bytes), 16)), '20010002000000010000000000000001');
});

function formatAt(bytes: Uint8Array, index: number): string {
  return toHex(bytes.subarray(16 * index, 16 * index + 16));
}

Nics('removeAddress updates the any-NIC index', () => {
  const t = table();
  assert.ok(t.removeAddress(1, '198.18.0.2/24'));
  assert.not.ok(t.removeAddress(1, '198.18.0.2'));
  assert.is(t.findIpv4(ip4('198.18.0.2')), 0);
  assert.ok(t.removeAddress(1, '2001:2::2'));
  assert.is(t.get(1)!.ipv6Count, 0);
});

for (const c of [
  { name: 'unknown key', call: (t: NicTable) => t.add({ name: 'x', linkAddress: '02:00:00:00:00:09', speed: 1 } as never), code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'bad MAC', call: (t: NicTable) => t.add({ name: 'x', linkAddress: '02:00:00:00:00' }), code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'multicast MAC', call: (t: NicTable) => t.add({ name: 'x', linkAddress: '01:00:5e:00:00:01' }), code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'MTU too small', call: (t: NicTable) => t.add({ name: 'x', linkAddress: '02:00:00:00:00:09', mtu: 67 }), code: 'ERR_OUT_OF_RANGE' },
  { name: 'duplicate name', call: (t: NicTable) => t.add({ name: 'eth0', linkAddress: '02:00:00:00:00:09' }), code: 'EEXIST' },
  { name: 'unknown NIC', call: (t: NicTable) => t.addAddress(9, '198.18.0.9/24'), code: 'ENODEV' },
  { name: 'duplicate address', call: (t: NicTable) => t.addAddress(1, '198.18.0.2/16'), code: 'EEXIST' },
  { name: 'multicast address', call: (t: NicTable) => t.addAddress(1, '224.0.0.1/4'), code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'prefix over 32', call: (t: NicTable) => t.addAddress(1, '198.18.0.9/33'), code: 'ERR_INVALID_ARG_VALUE' },
  { name: 'not an address', call: (t: NicTable) => t.addAddress(1, 'eth0'), code: 'ERR_INVALID_ARG_VALUE' },
  {
    name: 'IPv6 on a small MTU',
    call: (t: NicTable) => { const n = t.add({ name: 'small', linkAddress: '02:00:00:00:00:09', mtu: 1000 }); t.addAddress(n.id, '2001:2::9/64'); },
    code: 'EINVAL',
  },
]) {
  Nics(`setup errors: ${c.name} → ${c.code}`, () => {
    const t = table();
    try {
      c.call(t);
      assert.unreachable('should throw');
    } catch (err) {
      assert.instance(err, NetshardError);
      assert.is((err as NetshardError).code, c.code, (err as Error).message);
    }
  });
}

Nics(`a NIC holds ${NIC_MAX_ADDRESSES} addresses per family, then ENOSPC`, () => {
  const t = new NicTable();
  t.add({ name: 'x', linkAddress: '02:00:00:00:00:09' });
  for (let i = 0; i < NIC_MAX_ADDRESSES; i++) t.addAddress(1, `198.18.3.${i + 1}/24`);
  assert.throws(() => t.addAddress(1, '198.18.3.200/24'), (err: NetshardError) => err.code === 'ENOSPC');
});

Nics('parseCidr: bare addresses are hosts', () => {
  assert.is(parseCidr('198.18.0.1', 'a').prefixLength, 32);
  assert.is(parseCidr('2001:2::1', 'a').prefixLength, 128);
  assert.is(parseCidr('0.0.0.0/0', 'a').prefixLength, 0);
  assert.throws(() => parseCidr('198.18.0.1/08', 'a'), /prefix-length/);
});

Nics.run();
