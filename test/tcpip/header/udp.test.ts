import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { UDP_HEADER_SIZE, UdpHeader, UdpReason, encodeUdp, validateUdp } from '../../../src/tcpip/header/udp.ts';
import { checksumView, combineChecksums, pseudoHeaderChecksumV4, pseudoHeaderChecksumV6View } from '../../../src/tcpip/checksum.ts';
import { parseIpv4 } from '../../../src/tcpip/address.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { fuzz } from './fuzz.ts';
import { ETH_IPV4_UDP, ETH_IPV6_HBH_DSTOPTS_UDP, IPV4_UDP_FIRST_FRAGMENT, IPV4_UDP_LAST_FRAGMENT, cut, patched } from './vectors.ts';

const Udp = suite('tcpip/header/udp');
const V4 = 34; // Ethernet 14 + IPv4 20
const V6 = 70; // Ethernet 14 + IPv6 40 + hop-by-hop 8 + destination options 8

for (const c of [
  { name: 'over IPv4', bytes: ETH_IPV4_UDP, at: V4, want: { sourcePort: 12345, destinationPort: 53, length: 12, checksum: 0xa5a2, payloadOffset: V4 + 8, payloadLength: 4 } },
  { name: 'over IPv6 after extension headers', bytes: ETH_IPV6_HBH_DSTOPTS_UDP, at: V6, want: { sourcePort: 5353, destinationPort: 5353, length: 16, checksum: 0xd854, payloadOffset: V6 + 8, payloadLength: 8 } },
]) {
  Udp(`reads fields: ${c.name}`, () => {
    const udp = new UdpHeader().reset(viewOf(c.bytes), c.at);
    assert.equal(
      { sourcePort: udp.sourcePort, destinationPort: udp.destinationPort, length: udp.length, checksum: udp.checksum, payloadOffset: udp.payloadOffset, payloadLength: udp.payloadLength },
      c.want,
    );
    assert.is(validateUdp(viewOf(c.bytes), c.at, c.bytes.length), UdpReason.Ok);
  });
}

Udp('vector checksums verify with their pseudo-headers', () => {
  const v4 = viewOf(ETH_IPV4_UDP);
  const pseudo4 = pseudoHeaderChecksumV4(17, parseIpv4('198.18.0.1'), parseIpv4('198.18.0.2'), 12);
  assert.is(combineChecksums(pseudo4, checksumView(v4, V4, 12)), 0xffff);
  const v6 = viewOf(ETH_IPV6_HBH_DSTOPTS_UDP);
  const pseudo6 = pseudoHeaderChecksumV6View(v6, 22, 38, 17, 16);
  assert.is(combineChecksums(pseudo6, checksumView(v6, V6, 16)), 0xffff);
  // The IPv4 fragments reassemble into a datagram whose checksum verifies.
  const datagram = new Uint8Array(32);
  datagram.set(IPV4_UDP_FIRST_FRAGMENT.subarray(20), 0);
  datagram.set(IPV4_UDP_LAST_FRAGMENT.subarray(20), 16);
  const pseudoFrag = pseudoHeaderChecksumV4(17, parseIpv4('198.18.0.1'), parseIpv4('198.18.0.2'), 32);
  assert.is(combineChecksums(pseudoFrag, checksumView(viewOf(datagram), 0, 32)), 0xffff);
});

Udp('setters write their fields', () => {
  const bytes = cut(ETH_IPV4_UDP, V4);
  const udp = new UdpHeader().reset(viewOf(bytes), 0);
  udp.sourcePort = 53;
  udp.destinationPort = 12345;
  udp.length = 8;
  udp.checksum = 0;
  assert.is(toHex(bytes), toHex(hex('0035 3039 0008 0000 deadbeef'))); // ports swapped, length 8, no checksum
});

Udp('encodeUdp → validateUdp reproduces the datagram', () => {
  const out = new Uint8Array(12);
  out.set(hex('deadbeef'), 8);
  assert.is(encodeUdp(viewOf(out), 0, { sourcePort: 12345, destinationPort: 53, length: 12, checksum: 0xa5a2 }), UDP_HEADER_SIZE);
  assert.is(toHex(out), toHex(ETH_IPV4_UDP.subarray(V4)));
  assert.is(validateUdp(viewOf(out), 0, out.length), UdpReason.Ok);
});

for (const c of [
  { name: 'whole datagram', bytes: cut(ETH_IPV4_UDP, V4), want: UdpReason.Ok },
  { name: 'length shorter than the IP payload', bytes: patched(cut(ETH_IPV4_UDP, V4), 4, hex('0008')), want: UdpReason.Ok },
  { name: '7 bytes', bytes: cut(ETH_IPV4_UDP, V4, V4 + 7), want: UdpReason.Truncated },
  { name: 'length 7', bytes: patched(cut(ETH_IPV4_UDP, V4), 4, hex('0007')), want: UdpReason.BadLength },
  { name: 'length 0 (jumbogram form, unsupported)', bytes: patched(cut(ETH_IPV4_UDP, V4), 4, hex('0000')), want: UdpReason.BadLength },
  { name: 'length past the end', bytes: patched(cut(ETH_IPV4_UDP, V4), 4, hex('000d')), want: UdpReason.BadLength },
]) {
  Udp(`validateUdp: ${c.name}`, () => {
    const got = validateUdp(viewOf(c.bytes), 0, c.bytes.length);
    assert.is(got, c.want, `validateUdp(${c.name}) = ${got}, want ${c.want}`);
  });
}

Udp('fuzz: validateUdp never throws and returns known reasons', () => {
  const known = new Set<number>(Object.values(UdpReason));
  const udp = new UdpHeader();
  const counts = new Map<number, number>();
  fuzz(0x1717, 20_000, [cut(ETH_IPV4_UDP, V4), cut(ETH_IPV6_HBH_DSTOPTS_UDP, V6)], (view, offset, end) => {
    const reason = validateUdp(view, offset, end);
    assert.ok(known.has(reason), `unknown reason ${reason}`);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    if (reason === UdpReason.Ok) assert.ok(udp.reset(view, offset).payloadOffset + udp.payloadLength <= end);
  });
  assert.is(counts.size, known.size);
});

Udp.run();
