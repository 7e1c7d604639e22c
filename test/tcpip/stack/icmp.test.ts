import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NetshardError } from '../../../src/errors.ts';
import { checksumView, finishChecksum } from '../../../src/tcpip/checksum.ts';
import { ICMPV4_DST_UNREACHABLE, ICMPV4_PORT_UNREACHABLE, ICMPV4_TIME_EXCEEDED } from '../../../src/tcpip/header/icmpv4.ts';
import { ICMPV6_DST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE } from '../../../src/tcpip/header/icmpv6.ts';
import { ParsedPacket } from '../../../src/tcpip/parse.ts';
import { Icmp, IcmpReason } from '../../../src/tcpip/stack/icmp.ts';
import { NicTable, type Nic } from '../../../src/tcpip/stack/nic.ts';
import { TokenBucket } from '../../../src/tcpip/stack/rate-limiter.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { ETH_IPV4_ICMP_ECHO, ETH_IPV6_ICMPV6_ECHO } from '../header/vectors.ts';
import { MAC_US0, withIpv4Checksum, icmpv4ChecksumsOk, icmpv6ChecksumOk, ip4, ip6, parse, udp4Frame, udp6Frame } from './fixtures.ts';

const Icmps = suite('tcpip/stack/icmp');

/** Echo reply to ETH_IPV4_ICMP_ECHO (checksums computed with python's RFC 1071 sum). */
const ECHO_REPLY_V4 = hex(`
  0200 0000 0001 0200 0000 0002 0800       # to the requester's MAC, from ours, IPv4
  4500 0024 0000 4000                      # IHL 5, TOS 0, total 36, id 0, DF
  4001 aeb1                                # TTL 64, ICMP, header checksum
  c612 0002 c612 0001                      # 198.18.0.2 -> 198.18.0.1
  0000 2c27 4242 0001                      # type 0 (echo reply), code 0, checksum, ident 4242, sequence 1
  6162 6364 6566 6768                      # the request's payload
`);

/** Echo reply to ETH_IPV6_ICMPV6_ECHO. */
const ECHO_REPLY_V6 = hex(`
  0200 0000 0001 0200 0000 0002 86dd
  6000 0000 0010 3a40                      # payload 16, ICMPv6, hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0002  # from 2001:2::2
  2001 0002 0000 0000 0000 0000 0000 0001  # to 2001:2::1
  8100 359c 7777 0003                      # type 129 (echo reply), checksum, ident 7777, sequence 3
  6162 6364 6566 6768
`);

/** Port unreachable for udp4Frame() (198.18.0.1:12345 -> 198.18.0.2:53, 4 payload bytes): the whole datagram quoted. */
const PORT_UNREACHABLE_V4 = hex(`
  0200 0000 0001 0200 0000 0002 0800
  45c0 003c 0000 4000                      # TOS c0 (internetwork control), total 60, DF
  4001 add9 c612 0002 c612 0001            # TTL 64, ICMP, checksum, from the address it was sent to
  0303 8942 0000 0000                      # type 3 code 3, checksum, unused
  4500 0020 1234 4000 4011 9c71            # the offending IPv4 header ...
  c612 0001 c612 0002
  3039 0035 000c a5a2 dead beef            # ... and all of its UDP datagram
`);

/** Port unreachable for udp6Frame() (2001:2::1:12345 -> 2001:2::2:53). */
const PORT_UNREACHABLE_V6 = hex(`
  0200 0000 0001 0200 0000 0002 86dd
  6000 0000 003c 3a40                      # payload 60, ICMPv6, hop limit 64
  2001 0002 0000 0000 0000 0000 0000 0002
  2001 0002 0000 0000 0000 0000 0000 0001
  0104 4d4d 0000 0000                      # type 1 code 4, checksum, unused
  6000 0000 000c 1140                      # the offending IPv6 header ...
  2001 0002 0000 0000 0000 0000 0000 0001
  2001 0002 0000 0000 0000 0000 0000 0002
  3039 0035 000c f1c1 dead beef            # ... and its UDP datagram
`);

function nic(): Nic {
  const nics = new NicTable();
  const n = nics.add({ name: 'eth0', linkAddress: MAC_US0 });
  nics.addAddress(n.id, '198.18.0.2/24');
  nics.addAddress(n.id, '2001:2::2/64');
  return n;
}

/** Returns a copy of the IPv4 frame with `patch` at `offset` and its header checksum redone. */
function v4variant(frame: Uint8Array, offset: number, patch: number[]): Uint8Array {
  const copy = frame.slice();
  copy.set(patch, offset);
  return withIpv4Checksum(copy);
}

Icmps('echo reply v4: exact bytes, checksums verify', () => {
  const icmp = new Icmp();
  const out = new Uint8Array(128);
  const n = icmp.echoReplyV4(viewOf(ETH_IPV4_ICMP_ECHO), parse(ETH_IPV4_ICMP_ECHO), nic(), viewOf(out), 0);
  assert.is(n, ECHO_REPLY_V4.length);
  assert.is(toHex(out.subarray(0, n)), toHex(ECHO_REPLY_V4));
  assert.ok(icmpv4ChecksumsOk(out, 14));
  assert.is(icmp.counters[IcmpReason.Ok], 1);
});

Icmps('echo reply v4 in place over a request with IP options: the options go, the data moves back', () => {
  const frame = hex(`
    0200 0000 0002 0200 0000 0001 0800
    4600 0028 0001 0000 4001 0000            # IHL 6, total 40 (checksum filled below)
    c612 0001 c612 0002
    9404 0000                                # router alert option
    0800 2427 4242 0001 6162 6364 6566 6768  # the echo request of ETH_IPV4_ICMP_ECHO
  `);
  const view = viewOf(frame);
  view.setUint16(24, finishChecksum(checksumView(view, 14, 24)));
  const parsed = parse(frame);
  const n = new Icmp().echoReplyV4(view, parsed, nic(), view, 0);
  assert.is(toHex(frame.subarray(0, n)), toHex(ECHO_REPLY_V4));
});

Icmps('echo reply v6: exact bytes, checksum verifies; in place gives the same', () => {
  const out = new Uint8Array(128);
  const n = new Icmp().echoReplyV6(viewOf(ETH_IPV6_ICMPV6_ECHO), parse(ETH_IPV6_ICMPV6_ECHO), nic(), viewOf(out), 0);
  assert.is(toHex(out.subarray(0, n)), toHex(ECHO_REPLY_V6));
  assert.ok(icmpv6ChecksumOk(out, 14));
  const frame = ETH_IPV6_ICMPV6_ECHO.slice();
  new Icmp().echoReplyV6(viewOf(frame), parse(frame), nic(), viewOf(frame), 0);
  assert.is(toHex(frame), toHex(ECHO_REPLY_V6));
});

for (const c of [
  { name: 'to the subnet broadcast (icmp_echo_ignore_broadcasts)', frame: v4variant(ETH_IPV4_ICMP_ECHO, 30, [0xc6, 0x12, 0x00, 0xff]), want: IcmpReason.Broadcast },
  { name: 'to a link-layer broadcast', frame: (() => { const f = ETH_IPV4_ICMP_ECHO.slice(); f.fill(0xff, 0, 6); return f; })(), want: IcmpReason.LinkBroadcast },
  { name: 'from 0.0.0.0', frame: v4variant(ETH_IPV4_ICMP_ECHO, 26, [0, 0, 0, 0]), want: IcmpReason.BadSource },
  { name: 'a bad ICMP checksum', frame: (() => { const f = ETH_IPV4_ICMP_ECHO.slice(); f[37]! ^= 1; return f; })(), want: IcmpReason.BadChecksum },
  { name: 'a fragment', frame: v4variant(ETH_IPV4_ICMP_ECHO, 20, [0x20, 0x00]), want: IcmpReason.Fragment },
  { name: 'an echo reply, not a request', frame: (() => { const f = ETH_IPV4_ICMP_ECHO.slice(); f[34] = 0; return f; })(), want: IcmpReason.NotEchoRequest },
]) {
  Icmps(`echo v4 refused: ${c.name}`, () => {
    const icmp = new Icmp();
    const out = new Uint8Array(128);
    assert.is(icmp.echoReplyV4(viewOf(c.frame), parse(c.frame), nic(), viewOf(out), 0), -c.want);
    assert.is(icmp.counters[c.want], 1);
    assert.is(toHex(out), '00'.repeat(128));
  });
}

Icmps('echo refused: no room, and IPv6 to a multicast address', () => {
  const icmp = new Icmp();
  assert.is(icmp.echoReplyV4(viewOf(ETH_IPV4_ICMP_ECHO), parse(ETH_IPV4_ICMP_ECHO), nic(), viewOf(new Uint8Array(49)), 0), -IcmpReason.NoRoom);
  const f = ETH_IPV6_ICMPV6_ECHO.slice();
  f.set(ip6('ff02::1'), 38);
  assert.is(icmp.echoReplyV6(viewOf(f), parse(f), nic(), viewOf(new Uint8Array(128)), 0), -IcmpReason.Broadcast);
  assert.is(icmp.echoReplyV6(viewOf(ETH_IPV4_ICMP_ECHO), parse(ETH_IPV4_ICMP_ECHO), nic(), viewOf(new Uint8Array(128)), 0), -IcmpReason.NotIp);
});

Icmps('port unreachable v4 (type 3 code 3) and v6 (type 1 code 4): exact bytes', () => {
  const icmp = new Icmp();
  const out = new Uint8Array(1600);
  const f4 = udp4Frame();
  let n = icmp.errorV4(viewOf(f4), parse(f4), nic(), ICMPV4_DST_UNREACHABLE, ICMPV4_PORT_UNREACHABLE, 0, ip4('198.18.0.2'), 0, viewOf(out), 0);
  assert.is(toHex(out.subarray(0, n)), toHex(PORT_UNREACHABLE_V4));
  assert.ok(icmpv4ChecksumsOk(out, 14));
  const f6 = udp6Frame();
  n = icmp.errorV6(viewOf(f6), parse(f6), nic(), ICMPV6_DST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0, viewOf(f6), 38, 0, viewOf(out), 0);
  assert.is(toHex(out.subarray(0, n)), toHex(PORT_UNREACHABLE_V6));
  assert.ok(icmpv6ChecksumOk(out, 14));
});

Icmps('quotes: IPv4 up to 576 bytes in all (RFC 1812), IPv6 up to 1280 (RFC 4443)', () => {
  const icmp = new Icmp();
  const out = new Uint8Array(2048);
  const big4 = udp4Frame({ payload: new Uint8Array(1000).fill(0x5a) });
  const n4 = icmp.errorV4(viewOf(big4), parse(big4), nic(), ICMPV4_TIME_EXCEEDED, 0, 0, ip4('198.18.0.2'), 0, viewOf(out), 0);
  assert.is(n4, 14 + 576);
  assert.is(viewOf(out).getUint16(16), 576);
  assert.is(toHex(out.subarray(42, n4)), toHex(big4.subarray(14, 14 + 548)));
  assert.ok(icmpv4ChecksumsOk(out, 14));
  const big6 = udp6Frame({ payload: new Uint8Array(1400).fill(0x6b) });
  const n6 = icmp.errorV6(viewOf(big6), parse(big6), nic(), 3, 0, 0, viewOf(big6), 38, 0, viewOf(out), 0);
  assert.is(n6, 14 + 1280);
  assert.is(toHex(out.subarray(62, n6)), toHex(big6.subarray(14, 14 + 1232)));
  assert.ok(icmpv6ChecksumOk(out, 14));
  // A smaller out buffer shrinks the quote, down to the IP header + 8 bytes.
  const n = icmp.errorV4(viewOf(big4), parse(big4), nic(), ICMPV4_TIME_EXCEEDED, 0, 0, ip4('198.18.0.2'), 0, viewOf(out.subarray(0, 14 + 28 + 28)), 0);
  assert.is(n, 14 + 28 + 28);
  assert.ok(icmpv4ChecksumsOk(out, 14));
  assert.is(icmp.errorV4(viewOf(big4), parse(big4), nic(), ICMPV4_TIME_EXCEEDED, 0, 0, ip4('198.18.0.2'), 0, viewOf(out.subarray(0, 14 + 28 + 27)), 0), -IcmpReason.NoRoom);
});

function icmpv4Inside(type: number): Uint8Array {
  return v4variant(ETH_IPV4_ICMP_ECHO, 34, [type]); // ICMP checksum no longer matters: errors are not verified here
}

for (const c of [
  { name: 'about an echo request: allowed', frame: ETH_IPV4_ICMP_ECHO, want: IcmpReason.Ok },
  { name: 'about an ICMP error (dest unreachable)', frame: icmpv4Inside(3), want: IcmpReason.IcmpError },
  { name: 'about an ICMP error (time exceeded)', frame: icmpv4Inside(11), want: IcmpReason.IcmpError },
  { name: 'about an unknown ICMP type (as Linux)', frame: icmpv4Inside(99), want: IcmpReason.IcmpError },
  { name: 'about a timestamp request: allowed', frame: icmpv4Inside(13), want: IcmpReason.Ok },
  { name: 'to 255.255.255.255', frame: udp4Frame({ dst: '255.255.255.255' }), want: IcmpReason.Broadcast },
  { name: 'to a subnet broadcast', frame: udp4Frame({ dst: '198.18.0.255' }), want: IcmpReason.Broadcast },
  { name: 'to a multicast group', frame: udp4Frame({ dst: '239.1.2.3', dstMac: '01:00:5e:01:02:03' }), want: IcmpReason.LinkBroadcast },
  { name: 'to multicast IP in a unicast frame', frame: udp4Frame({ dst: '239.1.2.3' }), want: IcmpReason.Broadcast },
  { name: 'in a link-layer broadcast', frame: udp4Frame({ dstMac: 'ff:ff:ff:ff:ff:ff' }), want: IcmpReason.LinkBroadcast },
  { name: 'a non-first fragment', frame: udp4Frame({ flags: 0, fragmentOffset: 64 }), want: IcmpReason.Fragment },
  { name: 'a first fragment: allowed', frame: udp4Frame({ flags: 1 }), want: IcmpReason.Ok },
  { name: 'from 0.0.0.0', frame: udp4Frame({ src: '0.0.0.0' }), want: IcmpReason.BadSource },
  { name: 'from loopback', frame: udp4Frame({ src: '127.0.0.1' }), want: IcmpReason.BadSource },
  { name: 'from a class E address', frame: udp4Frame({ src: '240.0.0.1' }), want: IcmpReason.BadSource },
]) {
  Icmps(`IPv4 error suppression: ${c.name}`, () => {
    const icmp = new Icmp();
    assert.is(icmp.errorSuppressedV4(viewOf(c.frame), parse(c.frame), nic()), c.want);
    const n = icmp.errorV4(viewOf(c.frame), parse(c.frame), nic(), ICMPV4_DST_UNREACHABLE, ICMPV4_PORT_UNREACHABLE, 0, ip4('198.18.0.2'), 0, viewOf(new Uint8Array(700)), 0);
    assert.is(n > 0 ? IcmpReason.Ok : -n, c.want);
  });
}

/** ETH_IPV6_ICMPV6_ECHO with its ICMPv6 type replaced and the message grown to `length` bytes (a redirect needs 40). */
function icmpv6Inside(type: number, length = 16): Uint8Array {
  const f = new Uint8Array(54 + length);
  f.set(ETH_IPV6_ICMPV6_ECHO.subarray(0, 54 + 16));
  viewOf(f).setUint16(18, length);
  f[54] = type;
  return f;
}

for (const c of [
  { name: 'about an echo request: allowed', frame: ETH_IPV6_ICMPV6_ECHO, want: IcmpReason.Ok },
  { name: 'about an ICMPv6 error (type 1)', frame: icmpv6Inside(1), want: IcmpReason.IcmpError },
  { name: 'about a redirect (RFC 4443 §2.4 e.2)', frame: icmpv6Inside(137, 40), want: IcmpReason.IcmpError },
  { name: 'to a multicast address', frame: udp6Frame({ dst: 'ff0e::1' }), want: IcmpReason.Broadcast },
  { name: 'in a link-layer multicast frame', frame: udp6Frame({ dstMac: '33:33:00:00:00:01' }), want: IcmpReason.LinkBroadcast },
  { name: 'from ::', frame: udp6Frame({ src: '::' }), want: IcmpReason.BadSource },
  { name: 'a non-first fragment', frame: udp6Frame({ fragment: { offset: 8, more: false } }), want: IcmpReason.Fragment },
  { name: 'a first fragment: allowed', frame: udp6Frame({ fragment: { offset: 0, more: true } }), want: IcmpReason.Ok },
]) {
  Icmps(`IPv6 error suppression: ${c.name}`, () => {
    assert.is(new Icmp().errorSuppressedV6(viewOf(c.frame), parse(c.frame)), c.want);
  });
}

Icmps('errors need a source address', () => {
  const f = udp4Frame();
  assert.is(new Icmp().errorV4(viewOf(f), parse(f), nic(), 3, 3, 0, 0, 0, viewOf(new Uint8Array(700)), 0), -IcmpReason.NoSource);
  assert.is(new Icmp().errorSuppressedV4(viewOf(f), new ParsedPacket(), nic()), IcmpReason.NotIp);
});

Icmps('the token bucket limits errors on a fake clock; echo replies are not limited', () => {
  const icmp = new Icmp({ ratePerSecond: 2, burst: 2 });
  const f = udp4Frame();
  const out = viewOf(new Uint8Array(700));
  const send = (now: number): number => icmp.errorV4(viewOf(f), parse(f), nic(), 3, 3, 0, ip4('198.18.0.2'), now, out, 0);
  assert.ok(send(0) > 0);
  assert.ok(send(0) > 0);
  assert.is(send(0), -IcmpReason.RateLimited);
  assert.is(send(499), -IcmpReason.RateLimited, '0.998 tokens');
  assert.ok(send(500) > 0, 'one token after 500 ms at 2/s');
  assert.is(send(500), -IcmpReason.RateLimited);
  assert.ok(send(10_000) > 0);
  assert.ok(send(10_000) > 0, 'refill is capped at the burst');
  assert.is(send(10_000), -IcmpReason.RateLimited);
  assert.is(icmp.limiter.drops, 4);
  assert.is(icmp.counters[IcmpReason.RateLimited], 4);
  for (let i = 0; i < 5; i++) assert.ok(icmp.echoReplyV4(viewOf(ETH_IPV4_ICMP_ECHO), parse(ETH_IPV4_ICMP_ECHO), nic(), out, 0) > 0);
});

Icmps('TokenBucket: a clock going backwards adds nothing; options validated', () => {
  const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 1 });
  assert.ok(bucket.allow(100));
  assert.not.ok(bucket.allow(50));
  assert.not.ok(bucket.allow(100));
  assert.ok(bucket.allow(101));
  const never = new TokenBucket({ ratePerSecond: 0, burst: 1 });
  assert.ok(never.allow(0));
  assert.not.ok(never.allow(1e9));
  assert.throws(() => new TokenBucket({ burst: 0 }), (e: NetshardError) => e.code === 'ERR_OUT_OF_RANGE');
  assert.throws(() => new TokenBucket({ rate: 5 } as never), (e: NetshardError) => e.code === 'ERR_INVALID_ARG_VALUE');
});

Icmps.run();
