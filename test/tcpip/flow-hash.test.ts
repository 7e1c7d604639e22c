import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MICROSOFT_RSS_KEY,
  demuxHashInt32,
  demuxHashIpv4,
  demuxHashIpv6,
  flowHashIpv4,
  flowHashIpv4Int32,
  flowHashIpv6,
  flowHashIpv6Int32,
  jenkinsHash,
  jenkinsSum,
  jenkinsWrite,
  newFlowHashSeed,
  reciprocalScale,
  symmetricFlowHashIpv4,
  symmetricFlowHashIpv6,
  toeplitzHash,
  toeplitzHashIpv4,
  toeplitzHashIpv6,
  toeplitzTable,
} from '../../src/tcpip/flow-hash.ts';
import { parseIpv4, parseIpv6 } from '../../src/tcpip/address.ts';
import { ICMPV4_PROTOCOL_NUMBER, ICMPV6_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from '../../src/tcpip/protocols.ts';
import { mulberry32 as prng } from './header/fuzz.ts';
import { hex, viewOf } from '../helpers/hex.ts';

const FlowHash = suite('tcpip/flow-hash');

const randU32 = (rand: () => number): number => Math.floor(rand() * 2 ** 32) >>> 0;
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// ----- Jenkins (gVisor pkg/tcpip/hash/jenkins golden values, seed 0)
for (const c of [
  { input: '', want: 0x00000000 },
  { input: 'a', want: 0xca2e9442 },
  { input: 'ab', want: 0x45e61e58 },
  { input: 'abc', want: 0xed131f5b },
]) {
  FlowHash(`jenkins: "${c.input}"`, () => {
    const bytes = ascii(`xx${c.input}`);
    assert.is(jenkinsHash(bytes, 2, c.input.length), c.want);
    let s = 0;
    for (const b of ascii(c.input)) s = jenkinsWrite(s, b);
    assert.is(jenkinsSum(s), c.want, 'byte at a time');
  });
}

// ----- reciprocalScale: floor(hash * n / 2^32), checked against BigInt (fine in a test, never in src).
FlowHash('reciprocalScale: edges and random values equal the 64-bit product >> 32', () => {
  for (const [hash, n, want] of [
    [0, 5, 0], [0xffffffff, 1, 0], [0xffffffff, 2, 1], [0x80000000, 2, 1], [0x7fffffff, 2, 0],
    [0xffffffff, 0xffffffff, 0xfffffffe], [0xd48b2e90, 3, 2], [0xf13ab1a8, 5, 4],
    [0xd48b2e90, 0xfffffffe, 3565891214],
  ] as const) {
    assert.is(reciprocalScale(hash, n), want, `reciprocalScale(${hash.toString(16)}, ${n})`);
  }
  const rand = prng(42);
  for (let i = 0; i < 2000; i++) {
    const hash = randU32(rand);
    const n = i % 2 ? randU32(rand) : 1 + Math.floor(rand() * 64);
    assert.is(reciprocalScale(hash, n), Number((BigInt(hash) * BigInt(n)) >> 32n));
  }
});

// ----- gVisor selectEndpoint (REFERENCE-gvisor.md §3.4, derived; the IPv6 row computed with python3).
for (const c of [
  { seed: 0, lp: 80, rp: 12345, la: '10.0.0.1', ra: '10.0.0.2', hash: 3565891216, n: 3, idx: 2 },
  { seed: 0x12345678, lp: 53, rp: 40000, la: '192.168.1.1', ra: '192.168.1.2', hash: 4047155624, n: 5, idx: 4 },
]) {
  FlowHash(`demuxHashIpv4: seed ${c.seed.toString(16)} ${c.la}:${c.lp} ← ${c.ra}:${c.rp}`, () => {
    const hash = demuxHashIpv4(c.seed, c.lp, c.rp, parseIpv4(c.la), parseIpv4(c.ra));
    assert.is(hash, c.hash);
    assert.is(reciprocalScale(hash, c.n), c.idx);
    // The same bytes through the generic byte hash: ports little-endian, then addresses.
    const bytes = hex(`${(c.lp & 0xff).toString(16).padStart(2, '0')}${(c.lp >> 8).toString(16).padStart(2, '0')}
      ${(c.rp & 0xff).toString(16).padStart(2, '0')}${(c.rp >> 8).toString(16).padStart(2, '0')}
      ${parseIpv4(c.la).toString(16).padStart(8, '0')}${parseIpv4(c.ra).toString(16).padStart(8, '0')}`);
    assert.is(jenkinsHash(bytes, 0, bytes.length, c.seed), c.hash);
  });
}
FlowHash('demuxHashIpv6: seed deadbeef [2001:2::1]:443 ← [2001:2::2]:50000', () => {
  const addrs = new Uint8Array(40);
  assert.ok(parseIpv6('2001:2::2', addrs, 3));
  assert.ok(parseIpv6('2001:2::1', addrs, 21));
  const hash = demuxHashIpv6(0xdeadbeef, 443, 50000, addrs, 21, 3);
  assert.is(hash, 0xfff4d019);
  assert.is(reciprocalScale(hash, 7), 6);
});
FlowHash('demuxHashInt32: the same bits as demuxHashIpv4 / demuxHashIpv6, signed (golden rows and random tuples)', () => {
  // Golden rows first: 3565891216 and 0xfff4d019 are >= 2^31, so the signed form differs from the unsigned.
  const v4 = viewOf(hex('0a000001 0a000002'));
  assert.is(demuxHashInt32(0, 80, 12345, v4, 0, 4, 4), 3565891216 | 0);
  const addrs = new Uint8Array(40);
  assert.ok(parseIpv6('2001:2::2', addrs, 3));
  assert.ok(parseIpv6('2001:2::1', addrs, 21));
  assert.is(demuxHashInt32(0xdeadbeef, 443, 50000, viewOf(addrs), 21, 3, 16), 0xfff4d019 | 0);
  const rand = prng(4242);
  const bytes = new Uint8Array(40);
  const view = viewOf(bytes);
  for (let round = 0; round < 300; round++) {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
    const seed = randU32(rand);
    const lp = Math.floor(rand() * 65536);
    const rp = Math.floor(rand() * 65536);
    const hash4 = demuxHashInt32(seed, lp, rp, view, 0, 4, 4);
    assert.ok(Number.isInteger(hash4) && hash4 === (hash4 | 0), 'an int32');
    assert.is(hash4 >>> 0, demuxHashIpv4(seed, lp, rp, view.getUint32(0), view.getUint32(4)), `IPv4 round ${round}`);
    assert.is(demuxHashInt32(seed, lp, rp, view, 24, 8, 16) >>> 0, demuxHashIpv6(seed, lp, rp, bytes, 24, 8), `IPv6 round ${round}`);
  }
});

// ----- Toeplitz: Microsoft "Verifying the RSS Hash Calculation" (each row recomputed bit by bit in python3).
/** Toeplitz bit by bit, the textbook way, written independently of the table. */
function referenceToeplitz(key: Uint8Array, input: Uint8Array): number {
  let h = 0;
  for (let bit = 0; bit < input.length * 8; bit++) {
    if (!((input[bit >> 3]! >> (7 - (bit & 7))) & 1)) continue;
    let window = 0;
    for (let k = 0; k < 32; k++) window = (window << 1) | ((key[(bit + k) >> 3]! >> (7 - ((bit + k) & 7))) & 1);
    h ^= window;
  }
  return h >>> 0;
}

const RSS = toeplitzTable();
for (const c of [
  { src: '66.9.149.187', sp: 2794, dst: '161.142.100.80', dp: 1766, ip: 0x323e8fc2, ports: 0x51ccc178 },
  { src: '199.92.111.2', sp: 14230, dst: '65.69.140.83', dp: 4739, ip: 0xd718262a, ports: 0xc626b0ea },
  { src: '24.19.198.95', sp: 12898, dst: '12.22.207.184', dp: 38024, ip: 0xd2d0a5de, ports: 0x5c2b394a },
  { src: '38.27.205.30', sp: 48228, dst: '209.142.163.6', dp: 2217, ip: 0x82989176, ports: 0xafc7327f },
  { src: '153.39.163.191', sp: 44251, dst: '202.188.127.2', dp: 1303, ip: 0x5d1809c5, ports: 0x10e828a2 },
]) {
  FlowHash(`toeplitz IPv4: ${c.src}:${c.sp} → ${c.dst}:${c.dp}`, () => {
    // A TCP/IPv4 frame: the hash reads the addresses and ports where they sit.
    const frame = new Uint8Array(2 + 20 + 20);
    const view = viewOf(frame);
    frame[2] = 0x45;
    frame[2 + 9] = TCP_PROTOCOL_NUMBER;
    view.setUint32(2 + 12, parseIpv4(c.src));
    view.setUint32(2 + 16, parseIpv4(c.dst));
    view.setUint16(22, c.sp);
    view.setUint16(24, c.dp);
    assert.is(toeplitzHashIpv4(RSS, view, 2, -1), c.ip, 'IPv4 only');
    assert.is(toeplitzHashIpv4(RSS, view, 2, 22), c.ports, 'TCP/IPv4');
    const input = new Uint8Array(12);
    input.set(frame.subarray(14, 22), 0);
    input.set(frame.subarray(22, 26), 8);
    assert.is(toeplitzHash(RSS, input, 0, 8), c.ip);
    assert.is(toeplitzHash(RSS, input, 0, 12), c.ports);
    assert.is(referenceToeplitz(MICROSOFT_RSS_KEY, input), c.ports, 'bit-by-bit reference');
  });
}
for (const c of [
  { src: '3ffe:2501:200:1fff::7', sp: 2794, dst: '3ffe:2501:200:3::1', dp: 1766, ip: 0x2cc18cd5, ports: 0x40207d3d },
  { src: '3ffe:501:8::260:97ff:fe40:efab', sp: 14230, dst: 'ff02::1', dp: 4739, ip: 0x0f0c461c, ports: 0xdde51bbf },
  { src: '3ffe:1900:4545:3:200:f8ff:fe21:67cf', sp: 44251, dst: 'fe80::200:f8ff:fe21:67cf', dp: 38024, ip: 0x4b61e985, ports: 0x02d1feef },
]) {
  FlowHash(`toeplitz IPv6: [${c.src}]:${c.sp} → [${c.dst}]:${c.dp}`, () => {
    const frame = new Uint8Array(1 + 40 + 8);
    const view = viewOf(frame);
    frame[1] = 0x60;
    frame[1 + 6] = UDP_PROTOCOL_NUMBER;
    assert.ok(parseIpv6(c.src, frame, 1 + 8));
    assert.ok(parseIpv6(c.dst, frame, 1 + 24));
    view.setUint16(41, c.sp);
    view.setUint16(43, c.dp);
    assert.is(toeplitzHashIpv6(RSS, view, 1, -1), c.ip, 'IPv6 only');
    assert.is(toeplitzHashIpv6(RSS, view, 1, 41), c.ports, 'UDP/IPv6');
    assert.is(toeplitzHash(RSS, frame, 9, 32), c.ip);
    assert.is(toeplitzHash(RSS, frame, 9, 36), c.ports);
    assert.is(referenceToeplitz(MICROSOFT_RSS_KEY, frame.subarray(9, 45)), c.ports, 'bit-by-bit reference');
  });
}

FlowHash('toeplitz: the table equals bit-by-bit for random keys and inputs; short keys are refused', () => {
  const rand = prng(0x7e0);
  for (let round = 0; round < 40; round++) {
    const key = Uint8Array.from({ length: 40 + (round % 3) * 6 }, () => Math.floor(rand() * 256));
    const table = toeplitzTable(key);
    const input = Uint8Array.from({ length: 1 + Math.floor(rand() * 36) }, () => Math.floor(rand() * 256));
    assert.is(toeplitzHash(table, input, 0, input.length), referenceToeplitz(key, input));
  }
  assert.throws(() => toeplitzTable(new Uint8Array(39)), (e: { code?: string }) => e.code === 'ERR_INVALID_ARG_VALUE');
});

// ----- The engine's hash over random frames.
interface Frame { bytes: Uint8Array; view: DataView; ip: number; l4: number; protocol: number; v6: boolean }
const PROTOCOLS = [TCP_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER, ICMPV4_PROTOCOL_NUMBER, 132];
/** A random IPv4 or IPv6 frame (random link-header room in front) with random addresses and ports. */
function randomFrame(rand: () => number, v6: boolean): Frame {
  const ip = Math.floor(rand() * 20);
  const l4 = ip + (v6 ? 40 : 20);
  const bytes = Uint8Array.from({ length: l4 + 8 }, () => Math.floor(rand() * 256));
  const protocol = v6 && rand() < 0.2 ? ICMPV6_PROTOCOL_NUMBER : PROTOCOLS[Math.floor(rand() * PROTOCOLS.length)]!;
  return { bytes, view: viewOf(bytes), ip, l4, protocol, v6 };
}
/** Swaps source and destination addresses and ports in place (the reply direction). */
function reverse(f: Frame): void {
  const size = f.v6 ? 16 : 4;
  const src = f.ip + (f.v6 ? 8 : 12);
  const a = f.bytes.slice(src, src + size);
  f.bytes.copyWithin(src, src + size, src + 2 * size);
  f.bytes.set(a, src + size);
  const sp = f.view.getUint16(f.l4);
  f.view.setUint16(f.l4, f.view.getUint16(f.l4 + 2));
  f.view.setUint16(f.l4 + 2, sp);
}
const plain = (f: Frame, seed: number): number =>
  (f.v6 ? flowHashIpv6 : flowHashIpv4)(f.view, f.ip, f.protocol, f.l4, seed);
const symmetric = (f: Frame, seed: number): number =>
  (f.v6 ? symmetricFlowHashIpv6 : symmetricFlowHashIpv4)(f.view, f.ip, f.protocol, f.l4, seed);

for (const v6 of [false, true]) {
  const family = v6 ? 'IPv6' : 'IPv4';
  FlowHash(`flow hash ${family}: symmetric variant is equal both ways, the plain one is not`, () => {
    const rand = prng(v6 ? 66 : 44);
    let plainEqual = 0;
    for (let round = 0; round < 1000; round++) {
      const f = randomFrame(rand, v6);
      const seed = randU32(rand);
      // Now and then the same address on both sides, so the ports decide the order.
      if (round % 10 === 0) f.bytes.copyWithin(f.ip + (v6 ? 24 : 16), f.ip + (v6 ? 8 : 12), f.ip + (v6 ? 24 : 16));
      const forward = symmetric(f, seed);
      const forwardPlain = plain(f, seed);
      reverse(f);
      assert.is(symmetric(f, seed), forward, `round ${round}`);
      // With equal addresses a portless packet is its own reverse: compare only rounds that differ.
      if (round % 10 !== 0 && plain(f, seed) === forwardPlain) plainEqual++;
    }
    assert.is(plainEqual, 0, `plain hash equal both ways ${plainEqual}/900 times`);
  });

  FlowHash(`flow hash ${family}: the seed changes the hash; ports count only for port protocols`, () => {
    const rand = prng(v6 ? 7 : 5);
    let same = 0;
    for (let round = 0; round < 1000; round++) {
      const f = randomFrame(rand, v6);
      if (plain(f, 1) === plain(f, 2)) same++;
      if (symmetric(f, 1) === symmetric(f, 2)) same++;
      // Fragments (transport offset -1) and protocols without ports ignore the transport bytes.
      const seed = randU32(rand);
      const before = (v6 ? flowHashIpv6 : flowHashIpv4)(f.view, f.ip, f.protocol, -1, seed);
      const withPorts = plain(f, seed);
      f.view.setUint32(f.l4, f.view.getUint32(f.l4) ^ 0x00010000);
      assert.is((v6 ? flowHashIpv6 : flowHashIpv4)(f.view, f.ip, f.protocol, -1, seed), before);
      const portless = f.protocol === ICMPV4_PROTOCOL_NUMBER || f.protocol === ICMPV6_PROTOCOL_NUMBER;
      if (portless) assert.is(plain(f, seed), withPorts, 'ICMP ignores the transport bytes');
      else assert.is.not(plain(f, seed), withPorts, 'a different source port, a different hash');
    }
    assert.ok(same < 5, `seed 1 and 2 agreed ${same} times`);
  });

  FlowHash(`flow hash ${family}: one client's sequential ports spread over 16 buckets`, () => {
    const rand = prng(v6 ? 16 : 4);
    const f = randomFrame(rand, v6);
    f.protocol = UDP_PROTOCOL_NUMBER;
    for (const seed of [0, 1, randU32(rand)]) {
      for (const hash of [plain, symmetric]) {
        const buckets = new Array<number>(16).fill(0);
        for (let port = 32768; port < 32768 + 4096; port++) {
          f.view.setUint16(f.l4, port);
          const h = hash(f, seed);
          buckets[h & 15]!++;
        }
        // 256 expected per bucket; a binomial's 6 sigma is ±94. Degenerate mixes leave buckets empty.
        for (const n of buckets) assert.ok(n > 160 && n < 352, `seed ${seed}: buckets ${buckets.join(',')}`);
        const top = new Array<number>(16).fill(0);
        for (let port = 0; port < 4096; port++) {
          f.view.setUint16(f.l4, port);
          top[reciprocalScale(hash(f, seed), 16)]!++;
        }
        for (const n of top) assert.ok(n > 160 && n < 352, `seed ${seed}: top bits ${top.join(',')}`);
      }
    }
  });
}

FlowHash('flowHashIpv4Int32 / flowHashIpv6Int32: the same 32 bits as the unsigned hash, as an int32', () => {
  const rand = prng(32);
  let high = 0;
  for (let round = 0; round < 2000; round++) {
    const v6 = round % 2 === 1;
    const f = randomFrame(rand, v6);
    const seed = randU32(rand);
    const l4 = round % 7 === 0 ? -1 : f.l4;
    const unsigned = (v6 ? flowHashIpv6 : flowHashIpv4)(f.view, f.ip, f.protocol, l4, seed);
    const signed = (v6 ? flowHashIpv6Int32 : flowHashIpv4Int32)(f.view, f.ip, f.protocol, l4, seed);
    assert.ok(Number.isInteger(unsigned) && unsigned >= 0 && unsigned <= 0xffffffff, `unsigned ${unsigned}`);
    assert.ok(signed >= -0x80000000 && signed <= 0x7fffffff, `signed ${signed}`);
    assert.is(signed >>> 0, unsigned, `round ${round}`);
    if (unsigned >= 0x80000000) high++;
  }
  assert.ok(high > 800 && high < 1200, `${high}/2000 hashes had the top bit set`);
});

FlowHash('newFlowHashSeed: unsigned 32-bit, not constant', () => {
  const seeds = new Set<number>();
  for (let i = 0; i < 8; i++) {
    const s = newFlowHashSeed();
    assert.ok(Number.isInteger(s) && s >= 0 && s <= 0xffffffff);
    seeds.add(s);
  }
  assert.ok(seeds.size > 1);
});

FlowHash.run();
