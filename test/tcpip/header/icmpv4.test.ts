import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ICMPV4_DST_UNREACHABLE,
  ICMPV4_ECHO,
  ICMPV4_ECHO_REPLY,
  ICMPV4_FRAG_NEEDED,
  ICMPV4_MINIMUM_SIZE,
  ICMPV4_PARAM_PROBLEM,
  ICMPV4_TIME_EXCEEDED,
  Icmpv4Header,
  Icmpv4Reason,
  encodeIcmpv4,
  validateIcmpv4,
} from '../../../src/tcpip/header/icmpv4.ts';
import { checksumView } from '../../../src/tcpip/checksum.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { fuzz } from './fuzz.ts';
import { ETH_IPV4_ICMP_ECHO, cut } from './vectors.ts';

const Icmpv4 = suite('tcpip/header/icmpv4');
const ICMP = 34; // Ethernet 14 + IPv4 20

Icmpv4('reads an echo request whose checksum verifies', () => {
  const view = viewOf(ETH_IPV4_ICMP_ECHO);
  const icmp = new Icmpv4Header().reset(view, ICMP);
  assert.is(icmp.type, ICMPV4_ECHO);
  assert.is(icmp.code, 0);
  assert.is(icmp.checksum, 0x2427);
  assert.is(icmp.ident, 0x4242);
  assert.is(icmp.sequence, 1);
  assert.is(icmp.payloadOffset, ICMP + 8);
  assert.is(icmp.isError, false);
  assert.is(checksumView(view, ICMP, 16), 0xffff); // no pseudo-header for ICMPv4
});

Icmpv4('setters write an error message; isError and mtu/pointer read it', () => {
  const bytes = new Uint8Array(ICMPV4_MINIMUM_SIZE);
  const icmp = new Icmpv4Header().reset(viewOf(bytes), 0);
  icmp.type = ICMPV4_DST_UNREACHABLE;
  icmp.code = ICMPV4_FRAG_NEEDED;
  icmp.mtu = 1280;
  icmp.checksum = 0xabcd;
  assert.is(toHex(bytes), toHex(hex('03 04 abcd 0000 0500'))); // type 3 code 4, checksum, unused, next-hop MTU 1280
  assert.is(icmp.isError, true);
  icmp.type = ICMPV4_PARAM_PROBLEM;
  icmp.code = 0;
  icmp.ident = 0;
  icmp.pointer = 9;
  assert.is(icmp.pointer, 9);
  assert.is(toHex(bytes.subarray(4)), '09000500');
  icmp.type = ICMPV4_TIME_EXCEEDED;
  assert.is(icmp.isError, true);
  icmp.type = ICMPV4_ECHO_REPLY;
  assert.is(icmp.isError, false);
  icmp.sequence = 2;
  assert.is(icmp.sequence, 2);
});

Icmpv4('encodeIcmpv4 → validateIcmpv4 reproduces the echo request', () => {
  const out = new Uint8Array(16);
  out.set(ETH_IPV4_ICMP_ECHO.subarray(ICMP + 8), 8);
  assert.is(encodeIcmpv4(viewOf(out), 0, { type: ICMPV4_ECHO, code: 0, checksum: 0x2427, ident: 0x4242, sequence: 1 }), 8);
  assert.is(toHex(out), toHex(ETH_IPV4_ICMP_ECHO.subarray(ICMP)));
  assert.is(validateIcmpv4(viewOf(out), 0, out.length), Icmpv4Reason.Ok);
});

for (const c of [
  { name: 'echo request with data', bytes: cut(ETH_IPV4_ICMP_ECHO, ICMP), want: Icmpv4Reason.Ok },
  { name: 'exactly 8 bytes', bytes: cut(ETH_IPV4_ICMP_ECHO, ICMP, ICMP + 8), want: Icmpv4Reason.Ok },
  { name: '7 bytes', bytes: cut(ETH_IPV4_ICMP_ECHO, ICMP, ICMP + 7), want: Icmpv4Reason.Truncated },
  { name: 'empty', bytes: new Uint8Array(0), want: Icmpv4Reason.Truncated },
]) {
  Icmpv4(`validateIcmpv4: ${c.name}`, () => {
    const got = validateIcmpv4(viewOf(c.bytes), 0, c.bytes.length);
    assert.is(got, c.want, `validateIcmpv4(${c.name}) = ${got}, want ${c.want}`);
  });
}

Icmpv4('fuzz: validateIcmpv4 never throws and returns known reasons', () => {
  const known = new Set<number>(Object.values(Icmpv4Reason));
  const icmp = new Icmpv4Header();
  fuzz(0x0404, 20_000, [cut(ETH_IPV4_ICMP_ECHO, ICMP)], (view, offset, end) => {
    const reason = validateIcmpv4(view, offset, end);
    assert.ok(known.has(reason), `unknown reason ${reason}`);
    if (reason === Icmpv4Reason.Ok) {
      icmp.reset(view, offset);
      assert.ok(icmp.type + icmp.code + icmp.checksum + icmp.mtu + icmp.pointer >= 0);
    }
  });
});

Icmpv4.run();
