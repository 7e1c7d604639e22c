import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  IPV4_FLAG_DONT_FRAGMENT,
  IPV4_FLAG_MORE_FRAGMENTS,
  IPV4_OPTION_NOP,
  IPV4_OPTION_ROUTER_ALERT,
  IPV4_OPTION_TIMESTAMP,
  Ipv4Header,
  Ipv4Reason,
  encodeIpv4,
  findIpv4Option,
  validateIpv4,
} from '../../../src/tcpip/header/ipv4.ts';
import { checksumView } from '../../../src/tcpip/checksum.ts';
import { formatIpv4, parseIpv4 } from '../../../src/tcpip/address.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { fuzz } from './fuzz.ts';
import {
  ETH_IPV4_ICMP_ECHO,
  ETH_IPV4_UDP,
  ETH_VLAN_IPV4_TCP_SYN,
  IPV4_UDP_FIRST_FRAGMENT,
  IPV4_UDP_LAST_FRAGMENT,
  cut,
  patched,
} from './vectors.ts';

const Ipv4 = suite('tcpip/header/ipv4');

/** A header in front of `rest`: `options` after the 20 fixed bytes, IHL and total length to match. */
function withOptions(options: string, payload = 0): Uint8Array {
  const opts = hex(options);
  const ihl = 5 + opts.length / 4;
  const bytes = new Uint8Array(ihl * 4 + payload);
  bytes.set(cut(ETH_IPV4_UDP, 14, 34));
  bytes.set(opts, 20);
  bytes[0] = 0x40 | ihl;
  viewOf(bytes).setUint16(2, bytes.length);
  return bytes;
}

for (const c of [
  {
    name: 'UDP, DF', bytes: ETH_IPV4_UDP, at: 14,
    want: { headerLength: 20, totalLength: 32, id: 0x1234, flags: IPV4_FLAG_DONT_FRAGMENT, fragmentOffset: 0, ttl: 64, protocol: 17, checksum: 0x9c71, isFragment: false, dontFragment: true, moreFragments: false, payloadOffset: 34, payloadLength: 12 },
  },
  {
    name: 'TCP with router alert, behind a VLAN tag', bytes: ETH_VLAN_IPV4_TCP_SYN, at: 18,
    want: { headerLength: 24, totalLength: 64, id: 0xbeef, flags: IPV4_FLAG_DONT_FRAGMENT, fragmentOffset: 0, ttl: 64, protocol: 6, checksum: 0x5a9c, isFragment: false, dontFragment: true, moreFragments: false, payloadOffset: 42, payloadLength: 40 },
  },
  {
    name: 'ICMP, no flags', bytes: ETH_IPV4_ICMP_ECHO, at: 14,
    want: { headerLength: 20, totalLength: 36, id: 1, flags: 0, fragmentOffset: 0, ttl: 64, protocol: 1, checksum: 0xeeb0, isFragment: false, dontFragment: false, moreFragments: false, payloadOffset: 34, payloadLength: 16 },
  },
  {
    name: 'first fragment', bytes: IPV4_UDP_FIRST_FRAGMENT, at: 0,
    want: { headerLength: 20, totalLength: 36, id: 0x5151, flags: IPV4_FLAG_MORE_FRAGMENTS, fragmentOffset: 0, ttl: 64, protocol: 17, checksum: 0x7d50, isFragment: true, dontFragment: false, moreFragments: true, payloadOffset: 20, payloadLength: 16 },
  },
  {
    name: 'last fragment', bytes: IPV4_UDP_LAST_FRAGMENT, at: 0,
    want: { headerLength: 20, totalLength: 36, id: 0x5151, flags: 0, fragmentOffset: 16, ttl: 64, protocol: 17, checksum: 0x9d4e, isFragment: true, dontFragment: false, moreFragments: false, payloadOffset: 20, payloadLength: 16 },
  },
]) {
  Ipv4(`reads fields: ${c.name}`, () => {
    const view = viewOf(c.bytes);
    assert.is(validateIpv4(view, c.at, c.bytes.length), Ipv4Reason.Ok);
    const ip = new Ipv4Header().reset(view, c.at);
    const got = {
      headerLength: ip.headerLength, totalLength: ip.totalLength, id: ip.id, flags: ip.flags,
      fragmentOffset: ip.fragmentOffset, ttl: ip.ttl, protocol: ip.protocol, checksum: ip.checksum,
      isFragment: ip.isFragment, dontFragment: ip.dontFragment, moreFragments: ip.moreFragments,
      payloadOffset: ip.payloadOffset, payloadLength: ip.payloadLength,
    };
    assert.equal(got, c.want);
    assert.is(ip.version, 4);
    assert.is(ip.tos, 0);
    assert.is(ip.optionsOffset, c.at + 20);
    assert.is(formatIpv4(ip.sourceAddress), '198.18.0.1');
    assert.is(formatIpv4(ip.destinationAddress), '198.18.0.2');
    // The vectors carry real header checksums: the sum over the header, checksum included, is 0xffff.
    assert.is(checksumView(view, c.at, ip.headerLength), 0xffff);
  });
}

Ipv4('setters keep their neighbours', () => {
  const bytes = cut(IPV4_UDP_FIRST_FRAGMENT, 0, 20);
  const ip = new Ipv4Header().reset(viewOf(bytes), 0);
  ip.fragmentOffset = 8 * 0x1fff;
  assert.is(ip.flags, IPV4_FLAG_MORE_FRAGMENTS);
  assert.is(ip.fragmentOffset, 65528);
  ip.flags = IPV4_FLAG_DONT_FRAGMENT;
  assert.is(ip.fragmentOffset, 65528);
  assert.is(toHex(bytes.subarray(6, 8)), '5fff');
  ip.headerLength = 24;
  assert.is(toHex(bytes.subarray(0, 1)), '46');
  ip.tos = 0xb8;
  ip.totalLength = 1500;
  ip.id = 0xabcd;
  ip.ttl = 1;
  ip.protocol = 6;
  ip.checksum = 0x1234;
  ip.sourceAddress = parseIpv4('198.19.255.254');
  ip.destinationAddress = parseIpv4('198.18.0.255');
  assert.is(toHex(bytes), toHex(hex(`
    46 b8 05dc      # version 4, IHL 6, TOS b8, total length 1500
    abcd 5fff       # id, DF and offset 8191 units
    01 06 1234      # TTL 1, TCP, checksum as set
    c613fffe        # source 198.19.255.254
    c61200ff        # destination 198.18.0.255
  `)));
});

for (const c of [
  { name: 'UDP, DF', frame: ETH_IPV4_UDP, at: 14, fields: { tos: 0, totalLength: 32, id: 0x1234, flags: IPV4_FLAG_DONT_FRAGMENT, fragmentOffset: 0, ttl: 64, protocol: 17, checksum: 0x9c71 } },
  { name: 'router alert option', frame: ETH_VLAN_IPV4_TCP_SYN, at: 18, fields: { tos: 0, totalLength: 64, id: 0xbeef, flags: IPV4_FLAG_DONT_FRAGMENT, fragmentOffset: 0, ttl: 64, protocol: 6, checksum: 0x5a9c, options: hex('940400') } },
  { name: 'last fragment', frame: IPV4_UDP_LAST_FRAGMENT, at: 0, fields: { tos: 0, totalLength: 36, id: 0x5151, flags: 0, fragmentOffset: 16, ttl: 64, protocol: 17, checksum: 0x9d4e } },
]) {
  Ipv4(`encodeIpv4 → validateIpv4: ${c.name}`, () => {
    const headerLength = c.fields.options === undefined ? 20 : 24;
    const out = new Uint8Array(c.fields.totalLength);
    const written = encodeIpv4(viewOf(out), 0, {
      ...c.fields,
      sourceAddress: parseIpv4('198.18.0.1'),
      destinationAddress: parseIpv4('198.18.0.2'),
    });
    assert.is(written, headerLength);
    // Three option bytes were padded with End of List to the vector's four.
    assert.is(toHex(out.subarray(0, headerLength)), toHex(c.frame.subarray(c.at, c.at + headerLength)));
    assert.is(validateIpv4(viewOf(out), 0, out.length), Ipv4Reason.Ok);
  });
}

Ipv4('findIpv4Option walks NOPs and lengths, stops at End of List', () => {
  const view = viewOf(ETH_VLAN_IPV4_TCP_SYN);
  assert.is(findIpv4Option(view, 18, IPV4_OPTION_ROUTER_ALERT), 38);
  assert.is(findIpv4Option(view, 18, IPV4_OPTION_TIMESTAMP), -1);
  assert.is(findIpv4Option(viewOf(ETH_IPV4_UDP), 14, IPV4_OPTION_ROUTER_ALERT), -1); // no options
  const nops = withOptions('01 01 9404 0000 00 000000'); // NOP NOP, router alert, EOL, padding
  assert.is(findIpv4Option(viewOf(nops), 0, IPV4_OPTION_ROUTER_ALERT), 22);
  assert.is(findIpv4Option(viewOf(nops), 0, IPV4_OPTION_NOP), 20);
  const afterEol = withOptions('00 000000 9404 0000'); // router alert after End of List is padding
  assert.is(validateIpv4(viewOf(afterEol), 0, afterEol.length), Ipv4Reason.Ok);
  assert.is(findIpv4Option(viewOf(afterEol), 0, IPV4_OPTION_ROUTER_ALERT), -1);
});

for (const c of [
  { name: 'whole header and payload', bytes: cut(ETH_IPV4_UDP, 14), want: Ipv4Reason.Ok },
  { name: 'link padding after total length', bytes: new Uint8Array([...cut(ETH_IPV4_UDP, 14), 0, 0, 0, 0]), want: Ipv4Reason.Ok },
  { name: 'options: NOPs and End of List', bytes: withOptions('01 01 01 00'), want: Ipv4Reason.Ok },
  { name: 'options: timestamp of 8 bytes', bytes: withOptions('44 08 05 00 00000000'), want: Ipv4Reason.Ok },
  { name: 'options: 40 bytes of NOP', bytes: withOptions('01'.repeat(40)), want: Ipv4Reason.Ok },
  { name: '19 bytes', bytes: cut(ETH_IPV4_UDP, 14, 33), want: Ipv4Reason.Truncated },
  { name: 'empty', bytes: new Uint8Array(0), want: Ipv4Reason.Truncated },
  { name: 'version 6', bytes: patched(cut(ETH_IPV4_UDP, 14), 0, hex('65')), want: Ipv4Reason.BadVersion },
  { name: 'version 0', bytes: patched(cut(ETH_IPV4_UDP, 14), 0, hex('05')), want: Ipv4Reason.BadVersion },
  { name: 'IHL 4', bytes: patched(cut(ETH_IPV4_UDP, 14), 0, hex('44')), want: Ipv4Reason.BadIhl },
  { name: 'IHL 0', bytes: patched(cut(ETH_IPV4_UDP, 14), 0, hex('40')), want: Ipv4Reason.BadIhl },
  { name: 'IHL 15 past the end', bytes: patched(cut(ETH_IPV4_UDP, 14, 34), 0, hex('4f')), want: Ipv4Reason.BadIhl },
  { name: 'total length 19 < header', bytes: patched(cut(ETH_IPV4_UDP, 14), 2, hex('0013')), want: Ipv4Reason.BadTotalLength },
  { name: 'total length 0', bytes: patched(cut(ETH_IPV4_UDP, 14), 2, hex('0000')), want: Ipv4Reason.BadTotalLength },
  { name: 'total length past the end', bytes: patched(cut(ETH_IPV4_UDP, 14), 2, hex('0021')), want: Ipv4Reason.BadTotalLength },
  { name: 'IHL 6 with total length 20', bytes: patched(withOptions('01010100'), 2, hex('0014')), want: Ipv4Reason.BadTotalLength },
  { name: 'option length 0', bytes: withOptions('94 00 0000'), want: Ipv4Reason.BadOptions },
  { name: 'option length 1', bytes: withOptions('94 01 0000'), want: Ipv4Reason.BadOptions },
  { name: 'option runs past the header', bytes: withOptions('01 94 04 00'), want: Ipv4Reason.BadOptions },
  { name: 'option type in the last byte', bytes: withOptions('01 01 01 94'), want: Ipv4Reason.BadOptions },
]) {
  Ipv4(`validateIpv4: ${c.name}`, () => {
    const got = validateIpv4(viewOf(c.bytes), 0, c.bytes.length);
    assert.is(got, c.want, `validateIpv4(${c.name}) = ${got}, want ${c.want}`);
  });
}

Ipv4('fuzz: validateIpv4 never throws and returns known reasons', () => {
  const known = new Set<number>(Object.values(Ipv4Reason));
  const ip = new Ipv4Header();
  const seeds = [
    cut(ETH_IPV4_UDP, 14), cut(ETH_VLAN_IPV4_TCP_SYN, 18), cut(ETH_IPV4_ICMP_ECHO, 14),
    IPV4_UDP_FIRST_FRAGMENT, IPV4_UDP_LAST_FRAGMENT, withOptions('01 44 08 05 00000000 9404 0000 00 000000'),
  ];
  const counts = new Map<number, number>();
  fuzz(0x1404, 20_000, seeds, (view, offset, end) => {
    const reason = validateIpv4(view, offset, end);
    assert.ok(known.has(reason), `unknown reason ${reason}`);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    if (reason === Ipv4Reason.Ok) {
      ip.reset(view, offset);
      assert.ok(offset + ip.totalLength <= end && ip.payloadOffset <= offset + ip.totalLength);
      findIpv4Option(view, offset, IPV4_OPTION_ROUTER_ALERT);
    }
  });
  assert.is(counts.size, known.size, `every reason seen: ${[...counts.entries()].join(' ')}`);
});

Ipv4.run();
