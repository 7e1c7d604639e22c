/**
 * The hand parse the parse benches measure `parsePacket` against (`bench/parse.ts`, the micro suite's
 * `parse` case): it reads the fields `parsePacket` fills for the benches' frames (Ethernet, one 802.1Q tag,
 * IPv4 or IPv6 without extension headers, UDP or TCP), trusting every length: no validation at all. And
 * `fold`, which mixes what a loop read into one number so no read can be optimised away. The timed loops
 * stay in each bench, one per parser: a loop shared by `parsePacket` and the hand parse reads two object
 * shapes, turns polymorphic, and the reference slows 10x (tried: 45 → 4.4 Mpps).
 */
import { ETHERNET_MINIMUM_SIZE, IPV4_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from '../../src/tcpip/index.ts';

/** Folds one packet's fields into `sum` (both loops use it, so both pay it). */
export function fold(sum: number, a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number): number {
  sum = Math.imul(sum ^ a, 0x01000193) ^ b;
  sum = Math.imul(sum ^ c, 0x01000193) ^ d;
  sum = Math.imul(sum ^ e, 0x01000193) ^ f;
  return Math.imul(sum ^ g, 0x01000193) ^ h;
}

/** What the baseline fills: the same fields as `ParsedPacket`. */
export class HandParsed {
  vlanId = -1;
  networkOffset = -1;
  networkProtocol = -1;
  end = -1;
  transportOffset = -1;
  transportProtocol = -1;
  payloadOffset = -1;
  fragment = 0;
  sourcePort = -1;
  destinationPort = -1;
}

/** The baseline: reads what `parsePacket` reads for these frames, trusting every length. No validation. */
export function handParse(v: DataView, offset: number, out: HandParsed): void {
  let at = offset + ETHERNET_MINIMUM_SIZE;
  let type = v.getUint16(offset + 12);
  out.vlanId = -1;
  if (type === 0x8100) {
    out.vlanId = v.getUint16(at) & 0xfff;
    type = v.getUint16(at + 2);
    at += 4;
  }
  out.networkOffset = at;
  out.networkProtocol = type;
  let l4: number, protocol: number;
  if (type === IPV4_PROTOCOL_NUMBER) {
    l4 = at + (v.getUint8(at) & 0xf) * 4;
    protocol = v.getUint8(at + 9);
    out.end = at + v.getUint16(at + 2);
    out.fragment = (v.getUint16(at + 6) & 0x3fff) === 0 ? 0 : 1;
  } else {
    l4 = at + 40;
    protocol = v.getUint8(at + 6);
    out.end = l4 + v.getUint16(at + 4);
    out.fragment = 0;
  }
  out.transportOffset = l4;
  out.transportProtocol = protocol;
  out.sourcePort = v.getUint16(l4);
  out.destinationPort = v.getUint16(l4 + 2);
  out.payloadOffset = protocol === TCP_PROTOCOL_NUMBER ? l4 + (v.getUint8(l4 + 12) >>> 4) * 4 : l4 + 8;
}
