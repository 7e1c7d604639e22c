import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  TCP_FLAG_ACK,
  TCP_FLAG_CWR,
  TCP_FLAG_ECE,
  TCP_FLAG_FIN,
  TCP_FLAG_PSH,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_FLAG_URG,
  TCP_MAXIMUM_HEADER_SIZE,
  TCP_MAXIMUM_WINDOW_SCALE,
  TCP_MINIMUM_SIZE,
  TcpHeader,
  TcpOptions,
  type TcpOptionsFields,
  TcpReason,
  encodeTcp,
  encodeTcpOptions,
  parseTcpOptions,
  validateTcp,
  validateTcpHeader,
} from '../../../src/tcpip/header/tcp.ts';
import { checksumView, combineChecksums, pseudoHeaderChecksumV4, pseudoHeaderChecksumV6View } from '../../../src/tcpip/checksum.ts';
import { parseIpv4 } from '../../../src/tcpip/address.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { fuzz, mulberry32 } from './fuzz.ts';
import { ETH_VLAN_IPV4_TCP_SYN, IPV6_ROUTING_TCP, cut } from './vectors.ts';

const Tcp = suite('tcpip/header/tcp');
const SYN = 42; // Ethernet 14 + tag 4 + IPv4 with router alert 24
const PSH_ACK = 64; // IPv6 40 + routing 24

/** The PSH|ACK segment's fixed header with `options` (hex) appended and the data offset set to match. */
function withOptions(options: string): Uint8Array {
  const opts = hex(options);
  if (opts.length % 4 !== 0) throw new Error(`options must fill whole words: ${options}`);
  const bytes = new Uint8Array(TCP_MINIMUM_SIZE + opts.length);
  bytes.set(IPV6_ROUTING_TCP.subarray(PSH_ACK, PSH_ACK + TCP_MINIMUM_SIZE));
  bytes.set(opts, TCP_MINIMUM_SIZE);
  bytes[12] = (bytes.length / 4) << 4;
  return bytes;
}

Tcp('reads a SYN with options', () => {
  const view = viewOf(ETH_VLAN_IPV4_TCP_SYN);
  assert.is(validateTcp(view, SYN, ETH_VLAN_IPV4_TCP_SYN.length), TcpReason.Ok);
  const tcp = new TcpHeader().reset(view, SYN);
  assert.is(tcp.sourcePort, 40000);
  assert.is(tcp.destinationPort, 80);
  assert.is(tcp.sequenceNumber, 0x11223344);
  assert.is(tcp.ackNumber, 0);
  assert.is(tcp.dataOffset, 40);
  assert.is(tcp.flags, TCP_FLAG_SYN);
  assert.is(tcp.windowSize, 64240);
  assert.is(tcp.checksum, 0xdbea);
  assert.is(tcp.urgentPointer, 0);
  assert.is(tcp.optionsOffset, SYN + 20);
  assert.is(tcp.payloadOffset, SYN + 40);
  const options = new TcpOptions();
  assert.is(parseTcpOptions(view, SYN, options), TcpReason.Ok);
  assert.equal({ ...options }, {
    mss: 1460, windowScale: 7, sackPermitted: true, timestamp: true, timestampValue: 0x01020304,
    timestampEcho: 0, sackBlocks: 0, sackBlocksOffset: -1,
  });
  // Real checksum: IPv4 pseudo-header (198.18.0.1 -> 198.18.0.2, TCP, 40 bytes) plus the segment.
  const pseudo = pseudoHeaderChecksumV4(6, parseIpv4('198.18.0.1'), parseIpv4('198.18.0.2'), 40);
  assert.is(combineChecksums(pseudo, checksumView(view, SYN, 40)), 0xffff);
});

Tcp('reads a PSH|ACK without options over IPv6', () => {
  const view = viewOf(IPV6_ROUTING_TCP);
  const tcp = new TcpHeader().reset(view, PSH_ACK);
  assert.is(tcp.sourcePort, 443);
  assert.is(tcp.destinationPort, 50000);
  assert.is(tcp.sequenceNumber, 1000);
  assert.is(tcp.ackNumber, 2000);
  assert.is(tcp.flags, TCP_FLAG_PSH | TCP_FLAG_ACK);
  assert.is(tcp.payloadOffset, PSH_ACK + 20);
  const options = new TcpOptions();
  assert.is(parseTcpOptions(view, PSH_ACK, options), TcpReason.Ok);
  assert.is(options.mss, -1);
  assert.is(options.windowScale, -1);
  const pseudo = pseudoHeaderChecksumV6View(view, 8, 24, 6, 24);
  assert.is(combineChecksums(pseudo, checksumView(view, PSH_ACK, 24)), 0xffff);
});

Tcp('flag bits are RFC 9293 / RFC 3168 positions', () => {
  assert.equal(
    [TCP_FLAG_FIN, TCP_FLAG_SYN, TCP_FLAG_RST, TCP_FLAG_PSH, TCP_FLAG_ACK, TCP_FLAG_URG, TCP_FLAG_ECE, TCP_FLAG_CWR],
    [1, 2, 4, 8, 16, 32, 64, 128],
  );
});

Tcp('setters write their fields and keep the reserved nibble', () => {
  const bytes = cut(IPV6_ROUTING_TCP, PSH_ACK, PSH_ACK + 20);
  bytes[12] = 0x51; // data offset 5, AE bit (RFC 9768) set
  const tcp = new TcpHeader().reset(viewOf(bytes), 0);
  tcp.sourcePort = 1;
  tcp.destinationPort = 65535;
  tcp.sequenceNumber = 0xffffffff;
  tcp.ackNumber = 0x80000000;
  tcp.dataOffset = 60;
  tcp.flags = TCP_FLAG_FIN | TCP_FLAG_ACK | TCP_FLAG_CWR;
  tcp.windowSize = 0;
  tcp.checksum = 0xbeef;
  tcp.urgentPointer = 7;
  assert.is(toHex(bytes), toHex(hex(`
    0001 ffff        # ports
    ffffffff         # sequence number
    80000000         # acknowledgment number
    f1 91 0000       # data offset 15 words with the AE bit kept, FIN|ACK|CWR, window 0
    beef 0007        # checksum, urgent pointer
  `)));
  assert.is(tcp.sequenceNumber, 0xffffffff);
});

Tcp('encodeTcp → validateTcp reproduces the SYN', () => {
  const out = new Uint8Array(40);
  const written = encodeTcp(viewOf(out), 0, {
    sourcePort: 40000, destinationPort: 80, sequenceNumber: 0x11223344, ackNumber: 0,
    flags: TCP_FLAG_SYN, windowSize: 64240, checksum: 0xdbea, urgentPointer: 0,
    options: ETH_VLAN_IPV4_TCP_SYN.subarray(SYN + 20, SYN + 40),
  });
  assert.is(written, 40);
  assert.is(toHex(out), toHex(ETH_VLAN_IPV4_TCP_SYN.subarray(SYN)));
  assert.is(validateTcp(viewOf(out), 0, out.length), TcpReason.Ok);
});

Tcp('encodeTcp pads options with End of List', () => {
  const out = new Uint8Array(24).fill(0xaa);
  assert.is(encodeTcp(viewOf(out), 0, {
    sourcePort: 1, destinationPort: 2, sequenceNumber: 3, ackNumber: 4, flags: TCP_FLAG_ACK,
    windowSize: 5, checksum: 0, urgentPointer: 0, options: hex('030307'),
  }), 24);
  assert.is(toHex(out.subarray(12, 13)), '60');
  assert.is(toHex(out.subarray(20)), '03030700');
  const options = new TcpOptions();
  assert.is(parseTcpOptions(viewOf(out), 0, options), TcpReason.Ok);
  assert.is(options.windowScale, 7);
});

Tcp('encodeTcpOptions then encodeTcp with optionsLength reproduce the SYN vector', () => {
  const out = new Uint8Array(40).fill(0xaa);
  const view = viewOf(out);
  const n = encodeTcpOptions(view, TCP_MINIMUM_SIZE, {
    mss: 1460, sackPermitted: true, timestamp: true, timestampValue: 0x01020304, timestampEcho: 0, windowScale: 7,
  });
  assert.is(n, 20);
  assert.is(encodeTcp(view, 0, {
    sourcePort: 40000, destinationPort: 80, sequenceNumber: 0x11223344, ackNumber: 0,
    flags: TCP_FLAG_SYN, windowSize: 64240, checksum: 0xdbea, urgentPointer: 0, optionsLength: n,
  }), 40);
  assert.is(toHex(out), toHex(ETH_VLAN_IPV4_TCP_SYN.subarray(SYN)));
  // A parsed TcpOptions is a TcpOptionsFields: parse, encode again, same bytes.
  const parsed = new TcpOptions();
  assert.is(parseTcpOptions(view, 0, parsed), TcpReason.Ok);
  const again = new Uint8Array(20);
  assert.is(encodeTcpOptions(viewOf(again), 0, parsed), 20);
  assert.is(toHex(again), toHex(out.subarray(20)));
});

for (const c of [
  { name: 'nothing', fields: {}, want: '' },
  { name: 'absent values of a reset TcpOptions', fields: new TcpOptions(), want: '' },
  { name: 'MSS only', fields: { mss: 536 }, want: '0204 0218' },
  {
    name: 'timestamps without SACK permitted sit behind two NOPs',
    fields: { mss: 1440, timestamp: true, timestampValue: 0xdeadbeef, timestampEcho: 1 },
    want: '0204 05a0  0101 080a deadbeef 00000001', // MSS 1440 | NOP NOP TS, TSval, TSecr
  },
  {
    name: 'SACK permitted without timestamps, window scale 14',
    fields: { sackPermitted: true, windowScale: 14 },
    want: '0101 0402  0103 030e', // NOP NOP SACK-permitted | NOP WS 14
  },
  {
    name: 'an ACK with timestamps and two SACK blocks',
    fields: { timestamp: true, timestampValue: 100, timestampEcho: 200, sackBlockEdges: [1000, 2000, 3000, 4000] },
    want: '0101 080a 00000064 000000c8  0101 0512 000003e8 000007d0 00000bb8 00000fa0', // NOP NOP TS | NOP NOP SACK 18
  },
  {
    name: 'timestamps and three SACK blocks fill all 40 bytes',
    fields: { timestamp: true, timestampValue: 1, timestampEcho: 2, sackBlockEdges: [1, 2, 3, 4, 5, 6] },
    want: '0101 080a 00000001 00000002  0101 051a 00000001 00000002 00000003 00000004 00000005 00000006',
  },
  { name: 'window scale 0, MSS 0', fields: { windowScale: 0, mss: 0 }, want: '0204 0000  0103 0300' },
] satisfies { name: string; fields: TcpOptionsFields; want: string }[]) {
  Tcp(`encodeTcpOptions: ${c.name}`, () => {
    const want = hex(c.want);
    const out = new Uint8Array(TCP_MINIMUM_SIZE + want.length + 4).fill(0xaa);
    const view = viewOf(out);
    assert.is(encodeTcpOptions(view, TCP_MINIMUM_SIZE, c.fields), want.length);
    assert.is(toHex(out.subarray(TCP_MINIMUM_SIZE, TCP_MINIMUM_SIZE + want.length)), toHex(want));
    assert.is(toHex(out.subarray(TCP_MINIMUM_SIZE + want.length)), 'aaaaaaaa', 'nothing written past the options');
    out[12] = ((TCP_MINIMUM_SIZE + want.length) / 4) << 4;
    assert.is(validateTcp(view, 0, TCP_MINIMUM_SIZE + want.length), TcpReason.Ok);
  });
}

for (const c of [
  { name: 'timestamps and four SACK blocks (44 bytes)', fields: { timestamp: true, sackBlockEdges: [1, 2, 3, 4, 5, 6, 7, 8] }, size: 64 },
  { name: 'five SACK blocks', fields: { sackBlockEdges: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }, size: 64 },
  { name: 'an odd number of SACK edges', fields: { sackBlockEdges: [1, 2, 3] }, size: 64 },
  { name: 'view one byte short', fields: { mss: 1460, windowScale: 7 }, size: 7 },
  { name: 'negative offset', fields: { mss: 1460 }, size: 64, offset: -1 },
] satisfies { name: string; fields: TcpOptionsFields; size: number; offset?: number }[]) {
  Tcp(`encodeTcpOptions returns -1 and writes nothing: ${c.name}`, () => {
    const bytes = new Uint8Array(c.size).fill(0xee);
    assert.is(encodeTcpOptions(viewOf(bytes), c.offset ?? 0, c.fields), -1);
    assert.ok(bytes.every((b) => b === 0xee), 'untouched');
  });
}

Tcp('seeded random options round-trip through parseTcpOptions', () => {
  const random = mulberry32(0x7c90);
  const int = (n: number): number => Math.floor(random() * n);
  const u32 = (): number => (int(0x10000) * 0x10000 + int(0x10000)) >>> 0;
  const parsed = new TcpOptions();
  let written = 0;
  for (let round = 0; round < 2000; round++) {
    const timestamp = random() < 0.5;
    const fields: TcpOptionsFields = {
      mss: random() < 0.5 ? int(0x10000) : -1,
      windowScale: random() < 0.5 ? int(TCP_MAXIMUM_WINDOW_SCALE + 1) : -1,
      sackPermitted: random() < 0.5,
      timestamp,
      timestampValue: timestamp ? u32() : 0,
      timestampEcho: timestamp ? u32() : 0,
      sackBlockEdges: Array.from({ length: 2 * int(5) }, u32),
    };
    const bytes = new Uint8Array(TCP_MAXIMUM_HEADER_SIZE);
    const view = viewOf(bytes);
    const n = encodeTcpOptions(view, TCP_MINIMUM_SIZE, fields);
    // Linux's words: MSS; TS (with SACK permitted in its NOPs) or NOP NOP SACK permitted; NOP WS; NOP NOP SACK.
    const blocks = (fields.sackBlockEdges?.length ?? 0) / 2;
    const want = ((fields.mss ?? -1) >= 0 ? 4 : 0) + (timestamp ? 12 : fields.sackPermitted === true ? 4 : 0) +
      ((fields.windowScale ?? -1) >= 0 ? 4 : 0) + (blocks > 0 ? 4 + 8 * blocks : 0);
    assert.is(n, want <= 40 ? want : -1, `options of ${want} bytes`);
    if (n < 0) continue;
    written++;
    assert.is(encodeTcp(view, 0, { sourcePort: 1, destinationPort: 2, sequenceNumber: 3, ackNumber: 4, flags: TCP_FLAG_ACK, windowSize: 5, checksum: 0, urgentPointer: 0, optionsLength: n }), TCP_MINIMUM_SIZE + n);
    assert.is(validateTcp(view, 0, TCP_MINIMUM_SIZE + n), TcpReason.Ok);
    assert.is(parseTcpOptions(view, 0, parsed), TcpReason.Ok);
    const edges = Array.from({ length: 2 * parsed.sackBlocks }, (_, i) => view.getUint32(parsed.sackBlocksOffset + 4 * i));
    assert.equal(
      { mss: parsed.mss, windowScale: parsed.windowScale, sackPermitted: parsed.sackPermitted, timestamp: parsed.timestamp, timestampValue: parsed.timestampValue, timestampEcho: parsed.timestampEcho, sackBlockEdges: edges },
      fields,
    );
  }
  assert.ok(written > 1500, `${written} of 2000 fit`);
});

for (const c of [
  { name: 'two SACK blocks', options: '0101 0512 0000 0064 0000 00c8 0000 012c 0000 0190', want: { sackBlocks: 2, sackBlocksOffset: 24 } },
  { name: 'window scale 15 is used as 14 (RFC 7323)', options: '03030f00', want: { windowScale: 14 } },
  { name: 'unknown kinds are skipped by length', options: '1e 06 00000000 0204 0218 0000', want: { mss: 536 } },
  { name: 'options after End of List are ignored', options: '00 00 0204', want: { mss: -1 } },
]) {
  Tcp(`parseTcpOptions: ${c.name}`, () => {
    const bytes = withOptions(c.options);
    const options = new TcpOptions();
    assert.is(parseTcpOptions(viewOf(bytes), 0, options), TcpReason.Ok);
    for (const [key, value] of Object.entries(c.want)) assert.is(options[key as keyof TcpOptions], value, key);
    if (options.sackBlocks === 2) {
      const view = viewOf(bytes);
      assert.equal([0, 1].map((i) => [view.getUint32(options.sackBlocksOffset + 8 * i), view.getUint32(options.sackBlocksOffset + 8 * i + 4)]), [[100, 200], [300, 400]]);
    }
  });
}

Tcp('parseTcpOptions resets a reused result', () => {
  const options = new TcpOptions();
  parseTcpOptions(viewOf(ETH_VLAN_IPV4_TCP_SYN), SYN, options);
  assert.is(parseTcpOptions(viewOf(IPV6_ROUTING_TCP), PSH_ACK, options), TcpReason.Ok);
  assert.equal({ ...options }, { ...new TcpOptions() });
});

for (const c of [
  { name: 'SYN with options', bytes: cut(ETH_VLAN_IPV4_TCP_SYN, SYN), want: TcpReason.Ok },
  { name: 'PSH|ACK with payload', bytes: cut(IPV6_ROUTING_TCP, PSH_ACK), want: TcpReason.Ok },
  { name: 'NOP padding only', bytes: withOptions('01010101'), want: TcpReason.Ok },
  { name: '19 bytes', bytes: cut(IPV6_ROUTING_TCP, PSH_ACK, PSH_ACK + 19), want: TcpReason.Truncated },
  { name: 'data offset 4 words', bytes: withOptions('').map((b, i) => (i === 12 ? 0x40 : b)), want: TcpReason.BadDataOffset },
  { name: 'data offset 0', bytes: withOptions('').map((b, i) => (i === 12 ? 0x00 : b)), want: TcpReason.BadDataOffset },
  { name: 'data offset past the end', bytes: cut(ETH_VLAN_IPV4_TCP_SYN, SYN, SYN + 36), want: TcpReason.BadDataOffset },
  { name: 'option length 0', bytes: withOptions('1e00 0000'), want: TcpReason.BadOptions },
  { name: 'option length 1', bytes: withOptions('1e01 0000'), want: TcpReason.BadOptions },
  { name: 'option past the header', bytes: withOptions('01 1e 08 00'), want: TcpReason.BadOptions },
  { name: 'option kind in the last byte', bytes: withOptions('010101 02'), want: TcpReason.BadOptions },
  { name: 'MSS of length 3', bytes: withOptions('020305 00'), want: TcpReason.BadOptions },
  { name: 'window scale of length 4', bytes: withOptions('03040700'), want: TcpReason.BadOptions },
  { name: 'SACK permitted of length 3', bytes: withOptions('040300 00'), want: TcpReason.BadOptions },
  { name: 'timestamps of length 8', bytes: withOptions('0808 00000001 0000'), want: TcpReason.BadOptions },
  { name: 'SACK of length 9', bytes: withOptions('0509 00000001 000000 00 0000'), want: TcpReason.BadOptions },
  { name: 'SACK with no block', bytes: withOptions('0502 0000'), want: TcpReason.BadOptions },
]) {
  Tcp(`validateTcp: ${c.name}`, () => {
    const got = validateTcp(viewOf(c.bytes), 0, c.bytes.length);
    assert.is(got, c.want, `validateTcp(${c.name}) = ${got}, want ${c.want}`);
    // validateTcpHeader looks at the fixed part and data offset only.
    const header = validateTcpHeader(viewOf(c.bytes), 0, c.bytes.length);
    assert.is(header, c.want === TcpReason.BadOptions ? TcpReason.Ok : c.want);
  });
}

Tcp('fuzz: validateTcp never throws and returns known reasons', () => {
  const known = new Set<number>(Object.values(TcpReason));
  const options = new TcpOptions();
  const seeds = [
    cut(ETH_VLAN_IPV4_TCP_SYN, SYN), cut(IPV6_ROUTING_TCP, PSH_ACK),
    withOptions('0101 0512 0000 0064 0000 00c8 0000 012c 0000 0190'), withOptions('1e 06 00000000 0204 0218 0000'),
  ];
  const counts = new Map<number, number>();
  fuzz(0x7c7c, 20_000, seeds, (view, offset, end) => {
    const reason = validateTcp(view, offset, end);
    assert.ok(known.has(reason), `unknown reason ${reason}`);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    if (validateTcpHeader(view, offset, end) === TcpReason.Ok) {
      assert.is(parseTcpOptions(view, offset, options), reason);
      if (options.sackBlocks > 0) assert.ok(options.sackBlocksOffset + 8 * options.sackBlocks <= end);
    }
  });
  assert.is(counts.size, known.size, `every reason seen: ${[...counts.entries()].join(' ')}`);
});

Tcp.run();
