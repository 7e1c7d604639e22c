import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NetshardError } from '../../../src/errors.ts';
import { checksumView, combineChecksums, finishChecksum, pseudoHeaderChecksumV6View } from '../../../src/tcpip/checksum.ts';
import { copyLinkAddress } from '../../../src/tcpip/header/ethernet.ts';
import { ParsedPacket } from '../../../src/tcpip/parse.ts';
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from '../../../src/tcpip/protocols.ts';
import { ARP_FRAME_SIZE } from '../../../src/tcpip/stack/arp.ts';
import { ForwardReason } from '../../../src/tcpip/stack/forward.ts';
import { NDP_FRAME_SIZE } from '../../../src/tcpip/stack/ndp.ts';
import { NeighborState } from '../../../src/tcpip/stack/neighbor-table.ts';
import { Stack, StackAction, StackReason, type StackOptions } from '../../../src/tcpip/stack/stack.ts';
import { TransportDemuxer } from '../../../src/tcpip/stack/transport-demuxer.ts';
import type { TransportPacket } from '../../../src/tcpip/stack/transport-packet.ts';
import type { LinkOutput } from '../../../src/tcpip/stack/types.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { ETH_ARP_REQUEST, ETH_IPV4_ICMP_ECHO, ETH_IPV6_ICMPV6_ECHO, ETH_IPV6_NEIGHBOR_SOLICIT } from '../header/vectors.ts';
import {
  MAC_A, MAC_US0, MAC_US1, withIpv4Checksum, icmpv4ChecksumsOk, icmpv6ChecksumOk, ip4, ip6, mac, parse, udp4Frame, udp6Frame,
} from './fixtures.ts';

const Stacks = suite('tcpip/stack/stack');

/** What the stack sent on its own, through the LinkOutput. */
class Recorder implements LinkOutput {
  frames: { nic: number; hex: string }[] = [];
  sent: { nic: number; packet: number; mac: string }[] = [];
  released: number[] = [];
  sendFrame(nicId: number, view: DataView, offset: number, length: number): void {
    this.frames.push({ nic: nicId, hex: toHex(new Uint8Array(view.buffer, view.byteOffset + offset, length)) });
  }
  sendQueued(nicId: number, packet: number, link: DataView, linkOffset: number): void {
    const six = new Uint8Array(6);
    copyLinkAddress(link, linkOffset, viewOf(six), 0);
    this.sent.push({ nic: nicId, packet, mac: toHex(six) });
  }
  releaseQueued(packet: number): void {
    this.released.push(packet);
  }
}

/** An endpoint that records what the demuxer hands it. */
class Listener {
  got: { localPort: number; remotePort: number; nicId: number; payload: string }[] = [];
  handlePacket(pkt: TransportPacket): void {
    const v = pkt.view;
    this.got.push({
      remotePort: v.getUint16(pkt.transportOffset), localPort: v.getUint16(pkt.transportOffset + 2), nicId: pkt.nicId,
      payload: toHex(pkt.bytes.subarray(pkt.transportOffset + 8, pkt.end)),
    });
  }
}

interface World { stack: Stack; now: { t: number }; output: Recorder; demuxer: TransportDemuxer; out: Uint8Array }

function world(options: StackOptions = {}): World {
  const now = { t: 0 };
  const demuxer = new TransportDemuxer({ seed: 1 });
  const stack = new Stack({ clock: () => now.t, transport: demuxer, ...options });
  stack.addNic({ name: 'eth0', linkAddress: MAC_US0 });
  stack.addNic({ name: 'eth1', linkAddress: MAC_US1 });
  stack.addAddress(1, '198.18.0.2/24');
  stack.addAddress(1, '2001:2::2/64');
  stack.addAddress(2, '198.18.1.1/24');
  stack.addAddress(2, '2001:2:0:1::1/64');
  const output = new Recorder();
  stack.setLinkOutput(output);
  return { stack, now, output, demuxer, out: new Uint8Array(2048) };
}

function inbound(w: World, frame: Uint8Array, nicId = 1, packet = -1): StackAction {
  const parsed = parse(frame);
  return w.stack.handleInbound(nicId, viewOf(frame), 0, frame.length, parsed, viewOf(w.out), 0, packet);
}

function sentOut(w: World): string {
  return toHex(w.out.subarray(0, w.stack.result.outLength));
}

Stacks('ARP request for us → the reply in out, and the requester is learned', () => {
  const w = world();
  assert.is(inbound(w, ETH_ARP_REQUEST), StackAction.Reply);
  assert.is(w.stack.result.outNic, 1);
  assert.is(w.stack.result.outLength, ARP_FRAME_SIZE);
  assert.is(sentOut(w), toHex(hex(`
    0200 0000 0001 0200 0000 0002 0806 0001 0800 0604 0002
    0200 0000 0002 c612 0002 0200 0000 0001 c612 0001
  `)));
  assert.is(w.stack.arp.stateOf(w.stack.arp.findIpv4(1, ip4('198.18.0.1'))), NeighborState.Stale);
  assert.is(w.stack.counters[StackReason.Replied], 1);
});

Stacks('ARP for an address of the other NIC is not answered on this one (arp_ignore = 1)', () => {
  const w = world();
  const frame = ETH_ARP_REQUEST.slice();
  frame.set([0xc6, 0x12, 0x01, 0x01], 38); // who has 198.18.1.1 (eth1's)?
  assert.is(inbound(w, frame), StackAction.Consumed);
  assert.is(w.stack.result.outLength, 0);
});

Stacks('echo requests v4 and v6 → replies with correct checksums', () => {
  const w = world();
  assert.is(inbound(w, ETH_IPV4_ICMP_ECHO), StackAction.Reply);
  assert.is(w.out[34], 0);
  assert.ok(icmpv4ChecksumsOk(w.out, 14));
  assert.is(inbound(w, ETH_IPV6_ICMPV6_ECHO), StackAction.Reply);
  assert.is(w.out[54], 129);
  assert.ok(icmpv6ChecksumOk(w.out, 14));
});

Stacks('NS for us → NA', () => {
  const w = world();
  assert.is(inbound(w, ETH_IPV6_NEIGHBOR_SOLICIT), StackAction.Reply);
  assert.is(w.stack.result.outLength, NDP_FRAME_SIZE);
  assert.is(w.out[54], 136);
  assert.ok(icmpv6ChecksumOk(w.out, 14));
});

Stacks('UDP to a registered port is delivered through the demuxer', () => {
  const w = world();
  const listener = new Listener();
  w.demuxer.register({ networks: [IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER], transport: UDP_PROTOCOL_NUMBER, id: { localPort: 53, localAddress: '', remotePort: 0, remoteAddress: '' } }, listener);
  assert.is(inbound(w, udp4Frame()), StackAction.Delivered);
  assert.is(inbound(w, udp6Frame(), 1), StackAction.Delivered);
  assert.equal(listener.got, [
    { localPort: 53, remotePort: 12345, nicId: 1, payload: 'deadbeef' },
    { localPort: 53, remotePort: 12345, nicId: 1, payload: 'deadbeef' },
  ]);
  assert.is(w.stack.counters[StackReason.Delivered], 2);
});

Stacks('UDP to a closed port → port unreachable quoting the datagram (v4 type 3/3, v6 type 1/4)', () => {
  const w = world();
  const f4 = udp4Frame();
  assert.is(inbound(w, f4), StackAction.Drop);
  assert.is(w.stack.result.reason, StackReason.NoEndpoint);
  assert.is(toHex(w.out.subarray(34, 36)), '0303');
  assert.is(toHex(w.out.subarray(42, w.stack.result.outLength)), toHex(f4.subarray(14)));
  assert.ok(icmpv4ChecksumsOk(w.out, 14));
  const f6 = udp6Frame();
  assert.is(inbound(w, f6), StackAction.Drop);
  assert.is(toHex(w.out.subarray(54, 56)), '0104');
  assert.is(toHex(w.out.subarray(62, w.stack.result.outLength)), toHex(f6.subarray(14)));
  assert.ok(icmpv6ChecksumOk(w.out, 14));
});

for (const c of [
  { name: 'a bad UDP checksum', frame: () => { const f = udp4Frame(); f[41]! ^= 1; return f; }, reason: StackReason.BadChecksum },
  { name: 'a subnet broadcast', frame: () => udp4Frame({ dst: '198.18.0.255', dstMac: 'ff:ff:ff:ff:ff:ff' }), reason: StackReason.NoEndpoint },
  { name: 'a multicast destination', frame: () => udp6Frame({ dst: 'ff02::1', dstMac: '33:33:00:00:00:01' }), reason: StackReason.NoEndpoint },
]) {
  Stacks(`no port unreachable for ${c.name}`, () => {
    const w = world();
    assert.is(inbound(w, c.frame()), StackAction.Drop);
    assert.is(w.stack.result.reason, c.reason);
    assert.is(w.stack.result.outLength, 0);
  });
}

Stacks('an unknown IPv4 protocol → protocol unreachable (3/2)', () => {
  const w = world();
  const frame = hex(`
    0200 0000 0002 0200 0000 0001 0800
    4500 0018 0000 4000 40fd adc1 c612 0001 c612 0002   # protocol 253, header checksum (python)
    0102 0304
  `);
  assert.is(inbound(w, frame), StackAction.Drop);
  assert.is(w.stack.result.reason, StackReason.UnknownProtocol);
  assert.is(toHex(w.out.subarray(34, 36)), '0302');
  assert.ok(icmpv4ChecksumsOk(w.out, 14));
});

for (const c of [
  { name: 'a unicast frame for another MAC', frame: () => udp4Frame({ dstMac: '02:00:00:00:00:99' }), reason: StackReason.OtherHost },
  { name: 'a packet for another host (forwarding off)', frame: () => udp4Frame({ dst: '198.19.0.5' }), reason: StackReason.NotForUs },
  { name: 'a fragment for us (no reassembly)', frame: () => udp4Frame({ flags: 1 }), reason: StackReason.Fragment },
  { name: 'a bad IPv4 header checksum', frame: () => { const f = udp4Frame(); f[24]! ^= 1; return f; }, reason: StackReason.BadChecksum },
  { name: 'an echo to a broadcast address', frame: () => { const f = ETH_IPV4_ICMP_ECHO.slice(); f.set([0xff, 0xff, 0xff, 0xff], 30); return withIpv4Checksum(f); }, reason: StackReason.IcmpDropped },
]) {
  Stacks(`drops: ${c.name}`, () => {
    const w = world();
    assert.is(inbound(w, c.frame()), StackAction.Drop);
    assert.is(w.stack.result.reason, c.reason);
    assert.is(w.stack.counters[c.reason], 1);
  });
}

Stacks('the frame must be parsed with its Ethernet header at offset; NIC must exist', () => {
  const w = world();
  const frame = udp4Frame();
  const parsed = parse(frame);
  assert.is(w.stack.handleInbound(1, viewOf(frame), 4, frame.length, parsed, viewOf(w.out), 0), StackAction.Drop);
  assert.is(w.stack.result.reason, StackReason.Malformed);
  assert.is(w.stack.handleInbound(1, viewOf(frame), 0, frame.length, new ParsedPacket(), viewOf(w.out), 0), StackAction.Drop);
  assert.is(w.stack.handleInbound(7, viewOf(frame), 0, frame.length, parsed, viewOf(w.out), 0), StackAction.Drop);
  assert.is(w.stack.result.reason, StackReason.UnknownNic);
});

Stacks('forwarding: unresolved → queued + ARP request; the ARP reply sends the queued packet with its MAC', () => {
  const w = world({ forwarding: true });
  const frame = udp4Frame({ dst: '198.18.1.9' });
  assert.is(inbound(w, frame, 1, 42), StackAction.Queued);
  assert.is(w.stack.result.outNic, 2);
  assert.is(toHex(w.out.subarray(0, 6)), 'ffffffffffff');
  const reply = hex(`
    0200 0000 0102 0200 0000 0109 0806 0001 0800 0604 0002   # unicast reply to eth1
    0200 0000 0109 c612 0109 0200 0000 0102 c612 0101        # 198.18.1.9 is at 02:00:00:00:01:09
  `);
  w.now.t = 5;
  assert.is(inbound(w, reply, 2), StackAction.Consumed);
  assert.equal(w.output.sent, [{ nic: 2, packet: 42, mac: '020000000109' }]);
  assert.is(w.stack.arp.stateOf(w.stack.arp.findIpv4(2, ip4('198.18.1.9'))), NeighborState.Reachable);
  // Now it forwards at once.
  const next = udp4Frame({ dst: '198.18.1.9' });
  assert.is(inbound(w, next, 1, 43), StackAction.Forward);
  assert.is(w.stack.result.egressNic, 2);
  assert.is(toHex(next.subarray(0, 12)), '020000000109' + '020000000102');
  assert.is(w.stack.forwardCounters[ForwardReason.Forwarded], 1);
});

Stacks('forwarding: tick re-solicits, then frees what waited when resolution fails', () => {
  const w = world({ forwarding: true, arp: { retransmitMs: 1000, maxMulticastSolicit: 2 } });
  assert.is(inbound(w, udp4Frame({ dst: '198.18.1.9' }), 1, 7), StackAction.Queued);
  assert.is(inbound(w, udp4Frame({ dst: '198.18.1.9' }), 1, 8), StackAction.Queued);
  assert.is(w.stack.tick(999), 0);
  assert.is(w.stack.tick(1000), 1);
  assert.is(w.output.frames.length, 1);
  assert.is(w.output.frames[0]!.nic, 2);
  assert.is(w.output.frames[0]!.hex.slice(0, 12), 'ffffffffffff');
  assert.is(w.output.frames[0]!.hex.slice(-8), 'c6120109', 'asks for 198.18.1.9');
  assert.is(w.stack.tick(2000), 0);
  assert.equal(w.output.released, [7, 8]);
});

Stacks('forwarding without a LinkOutput does not queue', () => {
  const w = world({ forwarding: true });
  w.stack.setLinkOutput(null);
  assert.not.ok(w.stack.queueUnresolved);
  assert.is(inbound(w, udp4Frame({ dst: '198.18.1.9' }), 1, 7), StackAction.Drop);
  assert.is(w.stack.forwardCounters[ForwardReason.Unresolved], 1);
  assert.is(w.stack.result.outLength, 42, 'the request still goes out with the answer');
});

Stacks('forwarding: TTL 1 → Drop with time exceeded; no route → counted', () => {
  const w = world({ forwarding: true });
  assert.is(inbound(w, udp4Frame({ dst: '198.18.1.9', ttl: 1 })), StackAction.Drop);
  assert.is(w.stack.result.reason, StackReason.ForwardDropped);
  assert.is(toHex(w.out.subarray(34, 36)), '0b00');
  assert.is(inbound(w, udp4Frame({ dst: '203.0.113.1' })), StackAction.Drop);
  assert.is(w.stack.forwardCounters[ForwardReason.NoRoute], 1);
  assert.is(w.stack.forwardCounters[ForwardReason.TtlExceeded], 1);
});

Stacks('forwarding: local traffic still reaches the local handlers', () => {
  const w = world({ forwarding: true });
  assert.is(inbound(w, ETH_IPV4_ICMP_ECHO), StackAction.Reply);
  assert.is(inbound(w, ETH_ARP_REQUEST), StackAction.Reply);
  assert.is(inbound(w, ETH_IPV6_NEIGHBOR_SOLICIT), StackAction.Reply);
  assert.is(w.out[58], 0xe0, 'a router sets R in its NA');
});

Stacks('IPv6 forwarding: an NA resolves and flushes', () => {
  const w = world({ forwarding: true });
  assert.is(inbound(w, udp6Frame({ dst: '2001:2:0:1::9' }), 1, 11), StackAction.Queued);
  const na = new Uint8Array(86);
  na.set(hex(`
    0200 0000 0102 0200 0000 0109 86dd 6000 0000 0020 3aff
    2001 0002 0000 0001 0000 0000 0000 0009
    2001 0002 0000 0001 0000 0000 0000 0001
    8800 0000 6000 0000
    2001 0002 0000 0001 0000 0000 0000 0009
    0201 0200 0000 0109
  `));
  // Fill the checksum the way a sender would: the stack verifies it.
  const v = viewOf(na);
  v.setUint16(56, finishChecksum(combineChecksums(pseudoHeaderChecksumV6View(v, 22, 38, 58, 32), checksumView(v, 54, 32))));
  assert.is(inbound(w, na, 2), StackAction.Consumed);
  assert.equal(w.output.sent, [{ nic: 2, packet: 11, mac: '020000000109' }]);
});


Stacks('addAddress adds the on-link route; removeAddress takes it away; static neighbors flush', () => {
  const w = world({ forwarding: true });
  assert.equal(w.stack.routes.ipv4.describe().map((r) => `${r.destination} ${r.gateway} ${r.nic}`), ['198.18.0.0/24 on-link 1', '198.18.1.0/24 on-link 2']);
  w.stack.addAddress(2, '198.18.1.7/24'); // same subnet: no second route
  assert.is(w.stack.routes.ipv4.count, 2);
  assert.ok(w.stack.removeAddress(2, '198.18.1.7/24'));
  assert.is(w.stack.routes.ipv4.count, 2, 'another address still uses the subnet');
  assert.ok(w.stack.removeAddress(2, '198.18.1.1/24'));
  assert.is(w.stack.routes.ipv4.count, 1);
  assert.ok(w.stack.removeAddress(2, '2001:2:0:1::1/64'));
  assert.equal(w.stack.routes.ipv6.describe().map((r) => r.destination), ['2001:2::/64']);
  w.stack.addRoute({ destination: '198.19.0.0/16', gateway: '198.18.0.1', nic: 1 });
  assert.is(inbound(w, udp4Frame({ dst: '198.19.0.5', srcMac: MAC_A }), 1, 3), StackAction.Queued);
  w.stack.addStaticNeighbor(1, '198.18.0.1', '02:00:00:00:00:01');
  assert.equal(w.output.sent, [{ nic: 1, packet: 3, mac: '020000000001' }]);
  assert.is(w.stack.removeRoute({ destination: '198.19.0.0/16' }), 1);
});

Stacks('setup errors', () => {
  const w = world();
  const code = (f: () => unknown): string => { try { f(); return 'none'; } catch (e) { return (e as NetshardError).code; } };
  assert.is(code(() => new Stack({ speed: 1 } as never)), 'ERR_INVALID_ARG_VALUE');
  assert.is(code(() => new Stack({ clock: 5 as never })), 'ERR_INVALID_ARG_TYPE');
  assert.is(code(() => new Stack({ forwarding: 'yes' as never })), 'ERR_INVALID_ARG_TYPE');
  assert.is(code(() => w.stack.addRoute({ destination: '198.19.0.0/16', nic: 9 })), 'ENODEV');
  assert.is(code(() => w.stack.addStaticNeighbor(1, '198.18.0.1', 'ff:ff:ff:ff:ff:ff')), 'ERR_INVALID_ARG_VALUE');
  assert.is(code(() => w.stack.setLinkOutput({} as never)), 'ERR_INVALID_ARG_TYPE');
  assert.is(code(() => w.stack.setTransport({} as never)), 'ERR_INVALID_ARG_TYPE');
  assert.ok(mac(MAC_A).length === 6 && ip6('::1').length === 16);
});

Stacks.run();
