/**
 * Test frames for the micro-bench suite, written once into a frame pool: the same three kinds as
 * bench/parse.ts — Ethernet/IPv4/UDP (60 B), Ethernet/IPv6/TCP (74 B) and Ethernet/802.1Q/IPv4/UDP (64 B)
 * — with a distinct flow (addresses and ports) per frame, so the flow hash sees many flows.
 * Setup only (allocates freely); the loops that read the frames allocate nothing.
 */
import type { FrameMemory } from '../../src/ring/index.ts';
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  TCP_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
  encodeEthernet,
  encodeIpv4,
  encodeIpv6,
  encodeTcp,
  encodeUdp,
} from '../../src/tcpip/index.ts';

/** Frame kinds, in the order `kindOf` cycles through them. */
export const FRAME_KINDS = ['eth/ipv4/udp 60 B', 'eth/ipv6/tcp 74 B', 'eth/vlan/ipv4/udp 64 B'] as const;

/** UDP payload bytes: 14 + 20 + 8 + 18 = 60 B, the smallest Ethernet frame without FCS. */
const UDP_PAYLOAD = 18;
const MAC_A = Uint8Array.of(0x02, 0, 0, 0, 0, 1);
const MAC_B = Uint8Array.of(0x02, 0, 0, 0, 0, 2);

/**
 * Writes frame number `i` of `kind` (0..2, see FRAME_KINDS) at byte `offset` of `view` and returns its length.
 * Addresses from 198.18.0.0/15 and 2001:2::/48; ports vary with `i`.
 */
export function writeFrame(view: DataView, kind: number, i: number, offset: number): number {
  const vlan = kind === 2;
  let at = offset + encodeEthernet(view, offset, {
    destinationAddress: MAC_B, sourceAddress: MAC_A, type: kind === 1 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER,
    ...(vlan ? { vlanId: 100 + (i & 7) } : {}),
  });
  if (kind === 1) {
    const source = new Uint8Array(16), destination = new Uint8Array(16);
    source.set([0x20, 0x01, 0x00, 0x02], 0); source[15] = 1; source[14] = i & 0xff; source[13] = (i >>> 8) & 0xff;
    destination.set([0x20, 0x01, 0x00, 0x02], 0); destination[15] = 2;
    at += encodeIpv6(view, at, { trafficClass: 0, flowLabel: i & 0xfffff, payloadLength: 20, nextHeader: TCP_PROTOCOL_NUMBER, hopLimit: 64, sourceAddress: source, destinationAddress: destination });
    at += encodeTcp(view, at, { sourcePort: 40000 + (i & 0x3fff), destinationPort: 443, sequenceNumber: i * 1000, ackNumber: 1, flags: 0x10, windowSize: 65535, checksum: 0, urgentPointer: 0 });
    return at - offset;
  }
  at += encodeIpv4(view, at, {
    tos: 0, totalLength: 20 + 8 + UDP_PAYLOAD, id: i & 0xffff, flags: 2, fragmentOffset: 0, ttl: 64, protocol: UDP_PROTOCOL_NUMBER,
    checksum: 0, sourceAddress: ((198 << 24) | (18 << 16) | (i & 0xffff)) >>> 0, destinationAddress: ((198 << 24) | (19 << 16) | 1) >>> 0,
  });
  at += encodeUdp(view, at, { sourcePort: 32768 + (i & 0x3fff), destinationPort: 9, length: 8 + UDP_PAYLOAD, checksum: 0 });
  return at + UDP_PAYLOAD - offset;
}

/** Which kind frame `frame` holds in a pool filled by `fillPool` with `mix`: all IPv4/UDP, or the three kinds in turn. */
export function kindOf(frame: number, mix: boolean): number {
  return mix ? frame % 3 : 0;
}

/**
 * Writes one frame into every frame of `pool` (kind from `kindOf(frame, mix)`) and returns each frame's
 * length, indexed by frame: what a receive call would report. Thread: any holder of the pool's memory.
 */
export function fillPool(pool: FrameMemory, mix: boolean): Int32Array {
  const lengths = new Int32Array(pool.frameCount);
  for (let f = 0; f < pool.frameCount; f++) lengths[f] = writeFrame(pool.view, kindOf(f, mix), f, pool.offsetOf(f));
  return lengths;
}
