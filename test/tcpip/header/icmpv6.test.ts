import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ICMPV6_DST_UNREACHABLE,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAM_PROBLEM,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_ROUTER_SOLICIT,
  Icmpv6Header,
  Icmpv6Reason,
  NDP_NA_OVERRIDE_FLAG,
  NDP_NA_ROUTER_FLAG,
  NDP_NA_SOLICITED_FLAG,
  encodeIcmpv6,
  validateIcmpv6,
} from '../../../src/tcpip/header/icmpv6.ts';
import { checksumView, combineChecksums, pseudoHeaderChecksumV6View } from '../../../src/tcpip/checksum.ts';
import { formatIpv6 } from '../../../src/tcpip/address.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { fuzz } from './fuzz.ts';
import { ETH_IPV6_ICMPV6_ECHO, ETH_IPV6_NEIGHBOR_SOLICIT, cut } from './vectors.ts';

const Icmpv6 = suite('tcpip/header/icmpv6');
const ICMP = 54; // Ethernet 14 + IPv6 40

/** A message of `type` with `length` bytes (zeros after the type byte). */
function message(type: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  if (length > 0) bytes[0] = type;
  return bytes;
}

Icmpv6('reads an echo request whose checksum verifies', () => {
  const view = viewOf(ETH_IPV6_ICMPV6_ECHO);
  const icmp = new Icmpv6Header().reset(view, ICMP);
  assert.is(icmp.type, ICMPV6_ECHO_REQUEST);
  assert.is(icmp.code, 0);
  assert.is(icmp.checksum, 0x369c);
  assert.is(icmp.ident, 0x7777);
  assert.is(icmp.sequence, 3);
  assert.is(icmp.payloadOffset, ICMP + 8);
  assert.is(icmp.isError, false);
  const pseudo = pseudoHeaderChecksumV6View(view, 22, 38, 58, 16);
  assert.is(combineChecksums(pseudo, checksumView(view, ICMP, 16)), 0xffff);
});

Icmpv6('reads a neighbor solicitation whose checksum verifies', () => {
  const view = viewOf(ETH_IPV6_NEIGHBOR_SOLICIT);
  const icmp = new Icmpv6Header().reset(view, ICMP);
  assert.is(icmp.type, ICMPV6_NEIGHBOR_SOLICIT);
  assert.is(icmp.targetAddressOffset, ICMP + 8);
  assert.is(formatIpv6(ETH_IPV6_NEIGHBOR_SOLICIT, icmp.targetAddressOffset), '2001:2::2');
  assert.is(icmp.ndpOptionsOffset, ICMP + 24);
  assert.is(toHex(ETH_IPV6_NEIGHBOR_SOLICIT.subarray(icmp.ndpOptionsOffset)), '0101020000000001');
  const pseudo = pseudoHeaderChecksumV6View(view, 22, 38, 58, 32);
  assert.is(combineChecksums(pseudo, checksumView(view, ICMP, 32)), 0xffff);
  assert.is(validateIcmpv6(view, ICMP, ETH_IPV6_NEIGHBOR_SOLICIT.length), Icmpv6Reason.Ok);
});

Icmpv6('setters write advertisements and errors', () => {
  const bytes = cut(ETH_IPV6_NEIGHBOR_SOLICIT, ICMP, ICMP + 24);
  const icmp = new Icmpv6Header().reset(viewOf(bytes), 0);
  icmp.type = ICMPV6_NEIGHBOR_ADVERT;
  icmp.neighborAdvertFlags = NDP_NA_SOLICITED_FLAG | NDP_NA_OVERRIDE_FLAG;
  icmp.checksum = 0;
  assert.is(toHex(bytes.subarray(0, 8)), toHex(hex('88 00 0000 60000000'))); // NA, flags S|O
  assert.is(icmp.neighborAdvertFlags & NDP_NA_ROUTER_FLAG, 0);
  icmp.type = ICMPV6_PACKET_TOO_BIG;
  icmp.code = 0;
  icmp.mtu = 1280;
  assert.is(toHex(bytes.subarray(0, 8)), toHex(hex('02 00 0000 00000500')));
  assert.is(icmp.isError, true);
  icmp.type = ICMPV6_PARAM_PROBLEM;
  icmp.code = 1;
  icmp.pointer = 40;
  assert.is(icmp.pointer, 40);
  assert.is(icmp.mtu, 40); // the same 4 bytes
  icmp.ident = 1;
  icmp.sequence = 2;
  assert.is(toHex(bytes.subarray(4, 8)), '00010002');
});

Icmpv6('encodeIcmpv6 → validateIcmpv6 reproduces the echo request', () => {
  const out = new Uint8Array(16);
  out.set(ETH_IPV6_ICMPV6_ECHO.subarray(ICMP + 8), 8);
  assert.is(encodeIcmpv6(viewOf(out), 0, { type: ICMPV6_ECHO_REQUEST, code: 0, checksum: 0x369c, ident: 0x7777, sequence: 3 }), 8);
  assert.is(toHex(out), toHex(ETH_IPV6_ICMPV6_ECHO.subarray(ICMP)));
  assert.is(validateIcmpv6(viewOf(out), 0, out.length), Icmpv6Reason.Ok);
});

for (const c of [
  { name: 'echo request', bytes: cut(ETH_IPV6_ICMPV6_ECHO, ICMP), want: Icmpv6Reason.Ok },
  { name: 'router solicitation of 8 bytes', bytes: message(ICMPV6_ROUTER_SOLICIT, 8), want: Icmpv6Reason.Ok },
  { name: 'destination unreachable of 8 bytes', bytes: message(ICMPV6_DST_UNREACHABLE, 8), want: Icmpv6Reason.Ok },
  { name: 'neighbor advertisement of 24 bytes', bytes: message(ICMPV6_NEIGHBOR_ADVERT, 24), want: Icmpv6Reason.Ok },
  { name: 'router advertisement of 16 bytes', bytes: message(ICMPV6_ROUTER_ADVERT, 16), want: Icmpv6Reason.Ok },
  { name: 'redirect of 40 bytes', bytes: message(ICMPV6_REDIRECT, 40), want: Icmpv6Reason.Ok },
  { name: '7 bytes', bytes: cut(ETH_IPV6_ICMPV6_ECHO, ICMP, ICMP + 7), want: Icmpv6Reason.Truncated },
  { name: 'empty', bytes: new Uint8Array(0), want: Icmpv6Reason.Truncated },
  { name: 'neighbor solicitation of 23 bytes', bytes: cut(ETH_IPV6_NEIGHBOR_SOLICIT, ICMP, ICMP + 23), want: Icmpv6Reason.Truncated },
  { name: 'neighbor advertisement of 8 bytes', bytes: message(ICMPV6_NEIGHBOR_ADVERT, 8), want: Icmpv6Reason.Truncated },
  { name: 'router advertisement of 15 bytes', bytes: message(ICMPV6_ROUTER_ADVERT, 15), want: Icmpv6Reason.Truncated },
  { name: 'redirect of 39 bytes', bytes: message(ICMPV6_REDIRECT, 39), want: Icmpv6Reason.Truncated },
]) {
  Icmpv6(`validateIcmpv6: ${c.name}`, () => {
    const got = validateIcmpv6(viewOf(c.bytes), 0, c.bytes.length);
    assert.is(got, c.want, `validateIcmpv6(${c.name}) = ${got}, want ${c.want}`);
  });
}

Icmpv6('fuzz: validateIcmpv6 never throws and returns known reasons', () => {
  const known = new Set<number>(Object.values(Icmpv6Reason));
  const icmp = new Icmpv6Header();
  const seeds = [cut(ETH_IPV6_ICMPV6_ECHO, ICMP), cut(ETH_IPV6_NEIGHBOR_SOLICIT, ICMP), message(ICMPV6_REDIRECT, 40)];
  fuzz(0x0606, 20_000, seeds, (view, offset, end) => {
    const reason = validateIcmpv6(view, offset, end);
    assert.ok(known.has(reason), `unknown reason ${reason}`);
    if (reason === Icmpv6Reason.Ok) {
      icmp.reset(view, offset);
      if (icmp.type === ICMPV6_NEIGHBOR_SOLICIT || icmp.type === ICMPV6_NEIGHBOR_ADVERT) {
        assert.ok(icmp.ndpOptionsOffset <= end);
      }
    }
  });
});

Icmpv6.run();
