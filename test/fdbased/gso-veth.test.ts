/**
 * Virtio-net headers on AF_PACKET sockets, end to end over a veth pair in a test namespace (root only):
 * - the endpoint learns PACKET_VNET_HDR from the socket (getsockopt) and refuses hardware GSO without it;
 * - receive: on a socket with PACKET_VNET_HDR every dispatch mode (readv, recvmmsg, mmap) delivers the
 *   kernel's frames without the 10-byte header, byte for byte;
 * - write: per fd, only the socket that carries a header gets one;
 * - hardware GSO: one 3540-byte TCP super-packet written with a GSO_TCPV4 header. How the test knows the
 *   kernel segmented it: an observer socket on the peer end `a` (GRO off there, so nothing re-merges) sees
 *   what crossed the link. With TSO on the sending end `b`, the veth carries the GSO packet whole: one
 *   3554-byte frame, above the 1500 MTU (the same frame without a virtio-net header is refused, EMSGSIZE).
 *   With TX checksumming and TSO off on `b`, the kernel must segment in software before the veth: the
 *   observer sees 4 frames of at most MSS (1000) payload bytes, sequence numbers advancing by 1000, PSH only
 *   on the last, IP lengths and checksums rewritten, and TCP checksums the kernel computed in full from the
 *   pseudo-header sum we left (NEEDS_CSUM), payloads adding up to the original.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { ip, netnsUnavailableReason } from '../helpers/netns.ts';
import { hex, toHex } from '../helpers/hex.ts';
import type { NetshardError } from '../../src/errors.ts';
import { FramePool } from '../../src/ring/index.ts';
import { EMSGSIZE, PACKET_VNET_HDR, SOL_PACKET, getsockoptInt } from '../../src/fdbased/syscalls.ts';
import { RxChecksum, type DispatchMode } from '../../src/fdbased/dispatcher.ts';
import { createEndpoint, type Endpoint } from '../../src/fdbased/endpoint.ts';
import { openPacketSockets } from '../../src/fdbased/open-packet.ts';
import type { EndpointOptions } from '../../src/fdbased/options.ts';
import { closeFds } from '../../src/fdbased/socketpair.ts';
import { TxCounter, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 } from '../../src/fdbased/write.ts';
import { SINK_MAC, createVethNetns, destroyVethNetns, parseTestFrame, sendUdpFlows, type VethNetns } from './veth-netns.ts';

const Gso = suite('fdbased/gso-veth');

// ---- packets, built by hand ----

/** Sum of 16-bit big-endian words of `bytes`, plus `initial`, folded to 16 bits (not complemented). */
function foldedSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The pseudo-header sum (RFC 793) of an IPv4 packet `p` for its upper layer of `length` bytes, protocol `protocol`. */
function pseudoSum(p: Uint8Array, protocol: number, length: number): number {
  return foldedSum(p.subarray(12, 20), protocol + length);
}

const ENGINE_IPV4 = [198, 18, 0, 2];
const PEER_IPV4 = [198, 18, 0, 1];
const ENGINE_MAC = '02:00:00:00:00:02';
const SOURCE_PORT = 40000, DESTINATION_PORT = 9;
const MSS = 1000;
const PAYLOAD_BYTES = 3500;
const FIRST_SEQ = 0x01000000;
const IP_ID = 0x1000;

/** Payload byte `k` of the super-packet. */
const payloadByte = (k: number): number => (k * 7 + 3) & 0xff;

/**
 * IPv4 (DF, id IP_ID) + TCP (PSH|ACK, seq FIRST_SEQ) from the engine to the peer carrying PAYLOAD_BYTES:
 * IP checksum complete, TCP checksum field = the pseudo-header sum only (CHECKSUM_PARTIAL: the kernel adds
 * the rest at csum_start + csum_offset, as the virtio-net NEEDS_CSUM flag asks).
 */
function tcpSuperPacket(): Uint8Array {
  const p = new Uint8Array(40 + PAYLOAD_BYTES);
  p.set(hex(`
    45 00 0000 1000 4000 40 06 0000   # IPv4, length (filled), id 0x1000, DF, TTL 64, TCP, checksum (filled)
    c6120002 c6120001                 # 198.18.0.2 -> 198.18.0.1
    9c40 0009 01000000 00000000       # port 40000 -> 9, seq 0x01000000, ack 0
    50 18 ffff 0000 0000              # 20-byte header, PSH|ACK, window, checksum (filled), urgent
  `));
  new DataView(p.buffer).setUint16(2, p.length);
  for (let k = 0; k < PAYLOAD_BYTES; k++) p[40 + k] = payloadByte(k);
  new DataView(p.buffer).setUint16(10, ~foldedSum(p.subarray(0, 20)) & 0xffff);
  new DataView(p.buffer).setUint16(36, pseudoSum(p, 6, p.length - 20));
  return p;
}

/** UDP from the engine to the peer's port 9 (discard), `text` as payload, checksum 0. */
function udp(text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  const p = new Uint8Array(28 + body.length);
  p.set(hex('45 00 0000 0000 4000 40 11 0000  c6120002 c6120001  9c40 0009 0000 0000'));
  const v = new DataView(p.buffer);
  v.setUint16(2, p.length);
  v.setUint16(24, 8 + body.length);
  p.set(body, 28);
  v.setUint16(10, ~foldedSum(p.subarray(0, 20)) & 0xffff);
  return p;
}

/** Whether Ethernet frame `f` is IPv4 from the engine to the peer's port 9 with `protocol`. */
function fromEngine(f: Uint8Array, protocol: number): boolean {
  return f.length >= 42 && f[12] === 0x08 && f[13] === 0x00 && f[23] === protocol &&
    toHex(f.subarray(26, 34)) === toHex(Uint8Array.from([...ENGINE_IPV4, ...PEER_IPV4])) && f[36] === 0 && f[37] === DESTINATION_PORT;
}

// ---- the veth ends ----

/** Reads/sets an ethtool flag on `ifname` in `ns` (SIOCETHTOOL with struct ethtool_value; ethtool is not installed). */
function ethtool(ns: string, ifname: string, cmd: number, value?: number): number {
  const script = `
import ctypes, fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def call(cmd, value=0):
    data = ctypes.create_string_buffer(struct.pack('II', cmd, value), 8)
    fcntl.ioctl(s.fileno(), 0x8946, struct.pack('16sP', sys.argv[1].encode(), ctypes.addressof(data)).ljust(40, b'\\0'))
    return struct.unpack('II', data.raw)[1]
if len(sys.argv) > 3:
    call(int(sys.argv[2]) + 1, int(sys.argv[3]))
print(call(int(sys.argv[2])))
`;
  const args = ['netns', 'exec', ns, 'python3', '-c', script, ifname, String(cmd), ...(value === undefined ? [] : [String(value)])];
  return Number(execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000 }).trim());
}
/** ETHTOOL_G* commands (the matching S* is one more). */
const ETHTOOL_GTXCSUM = 0x16, ETHTOOL_GTSO = 0x1e, ETHTOOL_GGRO = 0x2b;

/** An endpoint on one end, attached, with frames big enough for a GSO frame and memory to write from. */
class Side {
  readonly ep: Endpoint;
  readonly pool = FramePool.create({ frameSize: 8192, frameCount: 64 });
  readonly memory = new Uint8Array(new SharedArrayBuffer(8192));
  readonly memoryId: number;
  private readonly slots = new Int32Array(16);
  private readonly lengths = new Int32Array(16);
  private readonly checksums = new Uint8Array(16);

  readonly fds: number[];

  constructor(fds: number[], options: Omit<EndpointOptions, 'fds'>) {
    this.fds = fds;
    this.ep = createEndpoint({ fds, ethernetHeader: true, ...options });
    for (let i = 0; i < fds.length; i++) this.ep.attach(i, this.pool);
    this.memoryId = this.ep.registerMemory(this.memory);
  }

  /** Receives on fd 0 until `want` frames matched `pick` or 3 s passed; returns [frame from its Ethernet header, RxChecksum]. */
  read(want: number, pick: (f: Uint8Array) => boolean): Array<[Uint8Array, number]> {
    const out: Array<[Uint8Array, number]> = [];
    const deadline = Date.now() + 3000;
    while (out.length < want && Date.now() < deadline) {
      const k = this.pool.allocBatch(this.slots, 16);
      const n = this.ep.receive(0, this.slots, this.lengths, k, this.checksums);
      assert.ok(n >= 0, `receive returned ${n}`);
      for (let i = 0; i < n; i++) {
        const at = this.pool.offsetOf(this.slots[i]!) + this.ep.networkOffset(0) - 14;
        const frame = this.pool.bytes.slice(at, at + 14 + this.lengths[i]!);
        if (pick(frame)) out.push([frame, this.checksums[i]!]);
      }
      this.pool.freeBatch(this.slots, k);
      if (n === 0) this.ep.wait(0, 20);
    }
    return out;
  }

  close(): void {
    this.ep.close();
    closeFds(this.fds);
    assert.is(this.pool.available, this.pool.frameCount, 'every frame back in the pool');
  }
}

const reason = netnsUnavailableReason();
if (reason !== '') {
  console.log(`fdbased/gso-veth: skipping: ${reason}`);
} else {
  // ns-vnt-<pid>: vnta<pid> (198.18.0.1, the kernel's end) ═ veth ═ vntb<pid> (the engine's AF_PACKET sockets).
  let t: VethNetns | undefined;
  let peerMac = new Uint8Array(6);

  Gso.before(() => {
    t = createVethNetns('vnt');
    const shown = JSON.parse(ip('-n', t.ns, '-j', 'link', 'show', t.a)) as Array<{ address: string }>;
    peerMac = Uint8Array.from(shown[0]!.address.split(':'), (b) => parseInt(b, 16));
    // The kernel's answers (port unreachable, RST) go back to the engine's MAC without ARP.
    ip('-n', t.ns, 'neigh', 'add', ENGINE_IPV4.join('.'), 'lladdr', ENGINE_MAC, 'dev', t.a);
  });
  Gso.after(() => destroyVethNetns(t));

  const engine = (vnetHeader: boolean): number[] => openPacketSockets(t!.b, 1, { netns: t!.ns, vnetHeader }).fds;
  const observer = (): Side => new Side(openPacketSockets(t!.a, 1, { netns: t!.ns }).fds, { dispatchMode: 'recvmmsg' });

  Gso('PACKET_VNET_HDR is learned from the socket (getsockopt); hardware GSO is refused on a socket without it', () => {
    const withHeader = engine(true);
    const without = engine(false);
    try {
      assert.is(getsockoptInt(withHeader[0]!, SOL_PACKET, PACKET_VNET_HDR), 1);
      const ep = createEndpoint({ fds: [withHeader[0]!, without[0]!], ethernetHeader: true });
      assert.equal(ep.vnetHeaders, [true, false]);
      assert.is(ep.gsoKind, 'none');
      ep.close();
      const hardware = createEndpoint({ fds: withHeader, ethernetHeader: true, gsoKind: 'hardware' });
      assert.is(hardware.gsoKind, 'hardware');
      hardware.close();
      try {
        createEndpoint({ fds: [withHeader[0]!, without[0]!], ethernetHeader: true, gsoKind: 'hardware' });
        assert.unreachable('should throw');
      } catch (err) {
        assert.is((err as NetshardError).code, 'ERR_INVALID_ARG_VALUE');
        assert.is((err as Error).message, `options.gsoKind 'hardware' needs a virtio-net header on every fd; options.fds[1] (fd ${without[0]}, an AF_PACKET socket) has none: open it with openPacketSockets(…, { vnetHeader: true }) (PACKET_VNET_HDR), or use gsoKind 'software' or 'none'`);
      }
    } finally {
      closeFds([...withHeader, ...without]);
    }
  });

  for (const dispatchMode of ['readv', 'recvmmsg', 'mmap'] as DispatchMode[]) {
    Gso(`${dispatchMode}: frames on a PACKET_VNET_HDR socket arrive without the 10-byte header, byte for byte`, () => {
      const side = new Side(engine(true), { dispatchMode, linkAddress: SINK_MAC });
      try {
        assert.equal(side.ep.vnetHeaders, [true]);
        const port = 5000 + ['readv', 'recvmmsg', 'mmap'].indexOf(dispatchMode);
        sendUdpFlows(t!.ns, { flows: 4, perFlow: 8, payloadBytes: 300, destinationPort: port });
        const got = side.read(32, (f) => parseTestFrame(f, 0, f.length, port) !== null);
        assert.is(got.length, 32, 'every datagram arrived');
        const seen = new Set<string>();
        for (const [f] of got) {
          const d = parseTestFrame(f, 0, f.length, port)!;
          assert.ok(d.intact, `flow ${d.flow} datagram ${d.seq} intact`);
          assert.is(toHex(f.subarray(0, 6)), '020000000009', 'the Ethernet header first, not a virtio-net header');
          seen.add(`${d.flow}/${d.seq}`);
        }
        assert.is(seen.size, 32, 'no datagram twice');
      } finally {
        side.close();
      }
    });
  }

  Gso('write, per fd: the socket with PACKET_VNET_HDR gets a header, the other none; both frames cross intact', () => {
    const fds = [engine(true)[0]!, engine(false)[0]!];
    const side = new Side(fds, { linkAddress: ENGINE_MAC });
    const peer = observer();
    try {
      const batch = side.ep.createTxBatch(2);
      for (const [hash, text] of [[0, 'to the vnet socket'], [1, 'to the plain socket']] as const) {
        const p = udp(text);
        side.memory.set(p, hash * 1024);
        const i = batch.add(hash, side.memoryId, hash * 1024, p.length);
        batch.setLink(i, peerMac, 0, 0x0800);
      }
      assert.is(side.ep.writePackets(batch), 2);
      const got = peer.read(2, (f) => fromEngine(f, 17)).map(([f]) => f);
      assert.equal(got.map((f) => new TextDecoder().decode(f.subarray(42))).sort(), ['to the plain socket', 'to the vnet socket']);
      for (const f of got) {
        assert.is(toHex(f.subarray(0, 14)), toHex(peerMac) + '020000000002' + '0800');
        assert.is(f.length, 14 + 28 + new TextDecoder().decode(f.subarray(42)).length);
      }
    } finally {
      side.close();
      peer.close();
    }
  });

  /** Writes the super-packet through a hardware-GSO endpoint on `b` (writePacket, or writePackets: sendmmsg); returns what `a` saw. */
  function sendSuperPacket(path: 'writePacket' | 'writePackets', want: number): Array<[Uint8Array, number]> {
    const side = new Side(engine(true), { gsoKind: 'hardware', linkAddress: ENGINE_MAC });
    const peer = observer();
    try {
      const packet = tcpSuperPacket();
      side.memory.set(packet, 0);
      const batch = side.ep.createTxBatch(1);
      const i = batch.add(0, side.memoryId, 0, packet.length);
      batch.setLink(i, peerMac, 0, 0x0800);
      // hdr_len: every header; csum_start counts from the Ethernet header (gVisor: 14 + IP header).
      batch.setVirtioNet(i, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 14 + 40, MSS, 14 + 20, 16);
      if (path === 'writePacket') assert.is(side.ep.writePacket(batch, i), 10 + 14 + packet.length);
      else assert.is(side.ep.writePackets(batch), 1);
      assert.is(side.ep.writer.counters[TxCounter.txBytes], 14 + packet.length);
      return peer.read(want, (f) => fromEngine(f, 6));
    } finally {
      side.close();
      peer.close();
    }
  }

  Gso('hardware GSO, TSO on: the super-packet crosses the veth whole, one 3554-byte frame (a plain socket refuses it: EMSGSIZE)', () => {
    assert.is(ethtool(t!.ns, t!.b, ETHTOOL_GTSO), 1, 'veth starts with TSO on');
    const got = sendSuperPacket('writePacket', 1);
    assert.is(got.length, 1);
    const [frame, status] = got[0]!;
    assert.is(frame.length, 14 + 40 + PAYLOAD_BYTES, 'one frame above the MTU: the GSO packet itself');
    assert.is(status, RxChecksum.NotReady, 'its TCP checksum is still partial (CHECKSUM_PARTIAL)');
    assert.is(toHex(frame.subarray(14)), toHex(tcpSuperPacket()), 'byte for byte what was written');

    const plain = new Side(engine(false), { linkAddress: ENGINE_MAC });
    try {
      const packet = tcpSuperPacket();
      plain.memory.set(packet, 0);
      const batch = plain.ep.createTxBatch(1);
      batch.setLink(batch.add(0, plain.memoryId, 0, packet.length), peerMac, 0, 0x0800);
      assert.is(plain.ep.writePacket(batch, 0), -EMSGSIZE, 'without a virtio-net header the frame is too long');
    } finally {
      plain.close();
    }
  });

  Gso('hardware GSO, TX checksum and TSO off on the sender: the kernel segments in software into MSS-sized segments', () => {
    const ns = t!.ns;
    ethtool(ns, t!.b, ETHTOOL_GTXCSUM, 0); // without checksum offload the kernel drops TSO too (netdev_fix_features)
    ethtool(ns, t!.b, ETHTOOL_GTSO, 0);
    ethtool(ns, t!.a, ETHTOOL_GGRO, 0); // nothing re-merges the segments before the observer
    assert.is(ethtool(ns, t!.b, ETHTOOL_GTSO), 0, 'TSO off on the sending end');
    assert.is(ethtool(ns, t!.b, ETHTOOL_GTXCSUM), 0, 'TX checksum off on the sending end');
    assert.is(ethtool(ns, t!.a, ETHTOOL_GGRO), 0, 'GRO off on the receiving end');

    const segments = Math.ceil(PAYLOAD_BYTES / MSS);
    const got = sendSuperPacket('writePackets', segments).map(([f]) => f);
    assert.is(got.length, segments, `${segments} segments`);
    const payload: number[] = [];
    got.forEach((f, s) => {
      const v = new DataView(f.buffer);
      const size = Math.min(MSS, PAYLOAD_BYTES - s * MSS);
      assert.is(f.length, 14 + 40 + size, `segment ${s}: ${size} payload bytes`);
      assert.ok(f.length <= 1514, 'fits the MTU');
      assert.is(v.getUint16(16), 40 + size, 'IP total length rewritten');
      assert.is(foldedSum(f.subarray(14, 34)), 0xffff, 'IP checksum valid');
      assert.is(v.getUint16(18), (IP_ID + s) & 0xffff, 'IP id advances per segment');
      assert.is(v.getUint32(38), FIRST_SEQ + s * MSS, 'sequence number advances by MSS');
      assert.is(f[47], s === segments - 1 ? 0x18 : 0x10, 'PSH only on the last segment');
      const ipPacket = f.subarray(14);
      assert.is(foldedSum(ipPacket.subarray(20), pseudoSum(ipPacket, 6, 20 + size)), 0xffff, `segment ${s}: TCP checksum computed in full`);
      payload.push(...f.subarray(54));
    });
    assert.equal(payload, Array.from({ length: PAYLOAD_BYTES }, (_, k) => payloadByte(k)), 'the segments carry the payload in order');
  });
}

Gso.run();
