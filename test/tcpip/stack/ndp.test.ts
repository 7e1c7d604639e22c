import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checksumView, combineChecksums, finishChecksum, pseudoHeaderChecksumV6View } from '../../../src/tcpip/checksum.ts';
import { encodeEthernet } from '../../../src/tcpip/header/ethernet.ts';
import { ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT } from '../../../src/tcpip/header/icmpv6.ts';
import { encodeIpv6 } from '../../../src/tcpip/header/ipv6.ts';
import { ParsedPacket } from '../../../src/tcpip/parse.ts';
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from '../../../src/tcpip/protocols.ts';
import { NDP_FRAME_SIZE, NdpResult, handleNdp, writeNeighborSolicit } from '../../../src/tcpip/stack/ndp.ts';
import { NeighborLookup, NeighborState, NeighborTable } from '../../../src/tcpip/stack/neighbor-table.ts';
import { NicTable, type Nic } from '../../../src/tcpip/stack/nic.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { ETH_IPV6_NEIGHBOR_SOLICIT } from '../header/vectors.ts';
import { MAC_A, MAC_US0, icmpv6ChecksumOk, ip6, mac, parse } from './fixtures.ts';

const Ndp = suite('tcpip/stack/ndp');

/** Our NA for ETH_IPV6_NEIGHBOR_SOLICIT (who has 2001:2::2? from 2001:2::1, SLLA 02:00:00:00:00:01). */
const ADVERT = hex(`
  0200 0000 0001                           # destination: the solicitor's link-layer option
  0200 0000 0002                           # source: our MAC
  86dd                                     # EtherType IPv6
  6000 0000                                # version 6, traffic class 0, flow label 0
  0020 3aff                                # payload length 32, next header ICMPv6, hop limit 255
  2001 0002 0000 0000 0000 0000 0000 0002  # source 2001:2::2 (the target)
  2001 0002 0000 0000 0000 0000 0000 0001  # destination 2001:2::1 (the solicitor)
  8800 b393                                # type 136 (NA), code 0, checksum
  6000 0000                                # flags S, O; reserved
  2001 0002 0000 0000 0000 0000 0000 0002  # target 2001:2::2
  0201 0200 0000 0002                      # option: target link-layer address (2), length 1, our MAC
`);

function setup(): { nic: Nic; neighbors: NeighborTable } {
  const nics = new NicTable();
  const nic = nics.add({ name: 'eth0', linkAddress: MAC_US0 });
  nics.addAddress(nic.id, '2001:2::2/64');
  return { nic, neighbors: new NeighborTable(6) };
}

interface NdpFrame {
  type: number;
  src: string;
  dst: string;
  target: string;
  ethDst?: string;
  hopLimit?: number;
  flags?: number;
  /** Option bytes after the 24-byte message (default: a link-layer option with MAC A of the type's kind). */
  options?: Uint8Array;
  code?: number;
}

/** Builds an Ethernet + IPv6 + NS/NA frame with a correct checksum (computed with checksum.ts). */
function ndpFrame(f: NdpFrame): Uint8Array {
  const options = f.options ?? Uint8Array.of(f.type === ICMPV6_NEIGHBOR_SOLICIT ? 1 : 2, 1, ...mac(MAC_A));
  const length = 24 + options.length;
  const bytes = new Uint8Array(14 + 40 + length);
  const view = viewOf(bytes);
  encodeEthernet(view, 0, { destinationAddress: mac(f.ethDst ?? '33:33:ff:00:00:02'), sourceAddress: mac(MAC_A), type: IPV6_PROTOCOL_NUMBER });
  encodeIpv6(view, 14, { trafficClass: 0, flowLabel: 0, payloadLength: length, nextHeader: ICMPV6_PROTOCOL_NUMBER, hopLimit: f.hopLimit ?? 255, sourceAddress: ip6(f.src), destinationAddress: ip6(f.dst) });
  bytes[54] = f.type;
  bytes[55] = f.code ?? 0;
  bytes[58] = f.flags ?? 0;
  bytes.set(ip6(f.target), 62);
  bytes.set(options, 78);
  const sum = combineChecksums(pseudoHeaderChecksumV6View(view, 22, 38, ICMPV6_PROTOCOL_NUMBER, length), checksumView(view, 54, length));
  view.setUint16(56, finishChecksum(sum));
  return bytes;
}

function run(nic: Nic, neighbors: NeighborTable, frame: Uint8Array, out = new Uint8Array(128), router = false, now = 0): { result: NdpResult; out: Uint8Array } {
  const parsed = parse(frame);
  return { result: handleNdp(nic, neighbors, viewOf(frame), parsed, now, viewOf(out), 0, router), out };
}

Ndp('an NS for our address gets the exact NA and teaches us the solicitor (STALE)', () => {
  const { nic, neighbors } = setup();
  const { result, out } = run(nic, neighbors, ETH_IPV6_NEIGHBOR_SOLICIT);
  assert.is(result, NdpResult.Replied);
  assert.is(toHex(out.subarray(0, NDP_FRAME_SIZE)), toHex(ADVERT));
  assert.ok(icmpv6ChecksumOk(out, 14));
  const e = neighbors.findIpv6(nic.id, viewOf(ip6('2001:2::1')), 0);
  assert.is(neighbors.stateOf(e), NeighborState.Stale);
});

Ndp('a forwarding stack sets R; the NA can overwrite the NS in its own frame', () => {
  const { nic, neighbors } = setup();
  const frame = new Uint8Array(128);
  frame.set(ETH_IPV6_NEIGHBOR_SOLICIT);
  const parsed = parse(frame.subarray(0, ETH_IPV6_NEIGHBOR_SOLICIT.length));
  assert.is(handleNdp(nic, neighbors, viewOf(frame), parsed, 0, viewOf(frame), 0, true), NdpResult.Replied);
  const want = ADVERT.slice();
  want.set([0x33, 0x93, 0xe0], 56); // checksum 3393 (python), flags R S O
  assert.is(toHex(frame.subarray(0, NDP_FRAME_SIZE)), toHex(want));
  assert.ok(icmpv6ChecksumOk(frame, 14));
});

Ndp('DAD: an NS from :: is answered to ff02::1 without S, and teaches nothing', () => {
  const { nic, neighbors } = setup();
  const { result, out } = run(nic, neighbors, ndpFrame({ type: ICMPV6_NEIGHBOR_SOLICIT, src: '::', dst: 'ff02::1:ff00:2', target: '2001:2::2', options: new Uint8Array(0) }));
  assert.is(result, NdpResult.Replied);
  assert.is(toHex(out.subarray(0, 6)), '333300000001');
  assert.is(toHex(out.subarray(38, 54)), toHex(ip6('ff02::1')));
  assert.is(out[58], 0x20, 'O only');
  assert.is(toHex(out.subarray(56, 58)), '1494', 'checksum (python)');
  assert.ok(icmpv6ChecksumOk(out, 14));
  assert.is(neighbors.size, 0);
});

for (const c of [
  { name: 'NS for someone else', frame: { type: ICMPV6_NEIGHBOR_SOLICIT, src: '2001:2::1', dst: 'ff02::1:ff00:9', target: '2001:2::9' }, want: NdpResult.Consumed },
  { name: 'hop limit 64 (off-link)', frame: { type: ICMPV6_NEIGHBOR_SOLICIT, src: '2001:2::1', dst: 'ff02::1:ff00:2', target: '2001:2::2', hopLimit: 64 }, want: NdpResult.BadHopLimit },
  { name: 'code 1', frame: { type: ICMPV6_NEIGHBOR_SOLICIT, src: '2001:2::1', dst: 'ff02::1:ff00:2', target: '2001:2::2', code: 1 }, want: NdpResult.Malformed },
  { name: 'multicast target', frame: { type: ICMPV6_NEIGHBOR_SOLICIT, src: '2001:2::1', dst: 'ff02::1:ff00:2', target: 'ff02::2' }, want: NdpResult.MulticastTarget },
  { name: 'option of length 0', frame: { type: ICMPV6_NEIGHBOR_SOLICIT, src: '2001:2::1', dst: 'ff02::1:ff00:2', target: '2001:2::2', options: Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0) }, want: NdpResult.Malformed },
  { name: 'option past the end', frame: { type: ICMPV6_NEIGHBOR_SOLICIT, src: '2001:2::1', dst: 'ff02::1:ff00:2', target: '2001:2::2', options: Uint8Array.of(1, 2, 0, 0, 0, 0, 0, 0) }, want: NdpResult.Malformed },
  { name: 'DAD with a source link-layer option', frame: { type: ICMPV6_NEIGHBOR_SOLICIT, src: '::', dst: 'ff02::1:ff00:2', target: '2001:2::2' }, want: NdpResult.BadSource },
  { name: 'DAD not to the solicited-node address', frame: { type: ICMPV6_NEIGHBOR_SOLICIT, src: '::', dst: '2001:2::2', target: '2001:2::2', options: new Uint8Array(0) }, want: NdpResult.BadSource },
  { name: 'multicast source', frame: { type: ICMPV6_NEIGHBOR_SOLICIT, src: 'ff02::1', dst: 'ff02::1:ff00:2', target: '2001:2::2' }, want: NdpResult.BadSource },
  { name: 'NA with S to a multicast address', frame: { type: ICMPV6_NEIGHBOR_ADVERT, src: '2001:2::1', dst: 'ff02::1', target: '2001:2::1', flags: 0x60 }, want: NdpResult.SolicitedMulticast },
  { name: 'NA for our address from another node', frame: { type: ICMPV6_NEIGHBOR_ADVERT, src: '2001:2::1', dst: 'ff02::1', target: '2001:2::2', flags: 0x20 }, want: NdpResult.AddressConflict },
]) {
  Ndp(`drops and ignores: ${c.name}`, () => {
    const { nic, neighbors } = setup();
    const out = new Uint8Array(128);
    assert.is(run(nic, neighbors, ndpFrame(c.frame), out).result, c.want);
    assert.is(toHex(out), '00'.repeat(128), 'nothing written');
    assert.is(neighbors.size, 0, 'nothing learned');
  });
}

Ndp('a bad checksum is dropped', () => {
  const { nic, neighbors } = setup();
  const frame = ETH_IPV6_NEIGHBOR_SOLICIT.slice();
  frame[57]! ^= 1;
  assert.is(run(nic, neighbors, frame).result, NdpResult.BadChecksum);
});

Ndp('NA (S, O) resolves a waiting entry: REACHABLE, queue handed back', () => {
  const { nic, neighbors } = setup();
  const target = viewOf(ip6('2001:2::1'));
  assert.is(neighbors.resolveIpv6(nic.id, target, 0, 0), NeighborLookup.PendingSolicit);
  neighbors.enqueue(neighbors.entry, 31);
  const na = ndpFrame({ type: ICMPV6_NEIGHBOR_ADVERT, ethDst: MAC_US0, src: '2001:2::1', dst: '2001:2::2', target: '2001:2::1', flags: 0x60 });
  assert.is(run(nic, neighbors, na).result, NdpResult.Resolved);
  assert.is(neighbors.stateOf(neighbors.entry), NeighborState.Reachable);
  assert.is(toHex(new Uint8Array(neighbors.linkView.buffer, neighbors.linkAddressOffset(neighbors.entry), 6)), '020000000001');
  assert.is(neighbors.dequeue(neighbors.entry), 31);
});

Ndp('NA without a target link-layer option, or for an unknown neighbor, teaches nothing', () => {
  const { nic, neighbors } = setup();
  neighbors.resolveIpv6(nic.id, viewOf(ip6('2001:2::1')), 0, 0);
  const bare = ndpFrame({ type: ICMPV6_NEIGHBOR_ADVERT, ethDst: MAC_US0, src: '2001:2::1', dst: '2001:2::2', target: '2001:2::1', flags: 0x60, options: new Uint8Array(0) });
  assert.is(run(nic, neighbors, bare).result, NdpResult.Consumed);
  assert.is(neighbors.stateOf(neighbors.entry), NeighborState.Incomplete);
  const stranger = ndpFrame({ type: ICMPV6_NEIGHBOR_ADVERT, ethDst: MAC_US0, src: '2001:2::7', dst: '2001:2::2', target: '2001:2::7', flags: 0x20 });
  assert.is(run(nic, neighbors, stranger).result, NdpResult.Consumed);
  assert.is(neighbors.findIpv6(nic.id, viewOf(ip6('2001:2::7')), 0), -1);
});

Ndp('writeNeighborSolicit: solicited-node multicast, or a unicast probe', () => {
  const { nic } = setup();
  const out = new Uint8Array(NDP_FRAME_SIZE);
  const target = viewOf(ip6('2001:2::1'));
  assert.is(writeNeighborSolicit(nic, target, 0, viewOf(out), 0), NDP_FRAME_SIZE);
  assert.is(toHex(out), toHex(hex(`
    3333 ff00 0001                           # 33:33 + the last 4 bytes of ff02::1:ff00:1
    0200 0000 0002                           # our MAC
    86dd 6000 0000 0020 3aff                 # IPv6, payload 32, ICMPv6, hop limit 255
    2001 0002 0000 0000 0000 0000 0000 0002  # source: our address on the target's prefix
    ff02 0000 0000 0000 0000 0001 ff00 0001  # solicited-node multicast of 2001:2::1
    8700 3793 0000 0000                      # type 135 (NS), code 0, checksum (python), reserved
    2001 0002 0000 0000 0000 0000 0000 0001  # target
    0101 0200 0000 0002                      # option: source link-layer address, our MAC
  `)));
  assert.ok(icmpv6ChecksumOk(out, 14));
  assert.is(writeNeighborSolicit(nic, target, 0, viewOf(out), 0, viewOf(mac(MAC_A)), 0), NDP_FRAME_SIZE);
  assert.is(toHex(out.subarray(0, 6)), '020000000001');
  assert.is(toHex(out.subarray(38, 54)), toHex(ip6('2001:2::1')), 'a probe goes to the target itself');
  assert.is(toHex(out.subarray(56, 58)), '1595', 'checksum (python)');
  assert.ok(icmpv6ChecksumOk(out, 14));
  const bare = new NicTable().add({ name: 'bare', linkAddress: '02:00:00:00:00:09' });
  assert.is(writeNeighborSolicit(bare, target, 0, viewOf(out), 0), 0);
});

Ndp('not NDP: an echo request is left alone', () => {
  const { nic, neighbors } = setup();
  const parsed = new ParsedPacket();
  assert.is(handleNdp(nic, neighbors, viewOf(new Uint8Array(8)), parsed, 0, viewOf(new Uint8Array(8)), 0, false), NdpResult.NotNdp);
});

Ndp.run();
