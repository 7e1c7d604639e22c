/**
 * Per-packet checksum status (`RxChecksum`) from the kernel. As root: an AF_PACKET socket on one veth end in
 * a test namespace, the kernel's UDP stack sending from the other end with transmit checksum offload ON (the
 * veth default), so each datagram is a CHECKSUM_PARTIAL skb whose UDP checksum field holds only the
 * pseudo-header sum. recvmmsg (PACKET_AUXDATA cmsg) and mmap (ring tp_status) must say `NotReady` for every
 * one, and the bytes must show why (the field is the pseudo-header sum, a software check fails); readv
 * cannot tell (`Unknown`). With offload off, nothing is `NotReady` and the checksum verifies (measured on
 * Linux 6.18: `Unknown`, the veth leaves CHECKSUM_NONE as it is). The Endpoint's Ethernet filter keeps each
 * status with its frame when it drops one. Without root: the PACKET_AUXDATA cmsg parser on hex buffers;
 * AF_UNIX fds carry no status, and every mode still writes `Unknown` for each packet it delivers.
 */
import { execFileSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import { ip, netnsUnavailableReason, setTxChecksum } from '../helpers/netns.ts';
import { auxdataChecksum } from '../../src/fdbased/dispatch-recvmmsg.ts';
import {
  DispatcherCounters,
  LinkCounter,
  RxChecksum,
  WaitResult,
  closeFds,
  createEndpoint,
  createMmapDispatcher,
  createReadvDispatcher,
  createRecvmmsgDispatcher,
  openPacketSockets,
  openSocketPair,
  syscalls as sys,
  type Dispatcher,
  type DispatchMode,
} from '../../src/fdbased/index.ts';
import { IPV4_PROTOCOL_NUMBER, pseudoHeaderChecksumV4, verifyUdpChecksum } from '../../src/tcpip/index.ts';
import { SINK_IPV4, SINK_MAC, createVethNetns, destroyVethNetns, parseTestFrame, sendUdpFlows, type VethNetns } from './veth-netns.ts';

/** A second neighbour of the sender, with a MAC the endpoint does not accept. */
const OTHER_IPV4 = '198.18.0.10';

const Csum = suite('fdbased/checksum-status');
const PORT = 9977;
const FRAME_SIZE = 2048;
const FRAMES = 64;

function frameArea(): { bytes: Uint8Array; frameSize: number } {
  return { bytes: new Uint8Array(new SharedArrayBuffer(FRAMES * FRAME_SIZE)), frameSize: FRAME_SIZE };
}

function open(mode: DispatchMode, fd: number, frames: { bytes: Uint8Array; frameSize: number }, counters: DispatcherCounters): Dispatcher {
  if (mode === 'recvmmsg') return createRecvmmsgDispatcher({ fd, frames, counters });
  if (mode === 'mmap') return createMmapDispatcher({ fd, frames, counters });
  return createReadvDispatcher({ fd, frames, counters, batchSize: 32 });
}

/** One delivered packet: its bytes' offset and length in the area, and the status the dispatcher wrote. */
interface Delivered { offset: number; length: number; checksum: number }

/**
 * Receives until `want` packets arrived, or 5 s. `checksums` starts filled with 0xee each round, so a
 * mode that skips writing a packet's status shows.
 */
function collect(d: Dispatcher, want: number): Delivered[] {
  const frames = new Int32Array(FRAMES);
  const lengths = new Int32Array(FRAMES);
  const checksums = new Uint8Array(FRAMES);
  const out: Delivered[] = [];
  const deadline = Date.now() + 5000;
  while (out.length < want && Date.now() < deadline) {
    for (let i = 0; i < FRAMES; i++) frames[i] = (i * 5 + out.length) % FRAMES; // shuffled: a wrong frame shows
    checksums.fill(0xee);
    const n = d.receive(frames, lengths, FRAMES, checksums);
    assert.ok(n >= 0, `receive returned ${n}`);
    if (n === 0) {
      const w = d.wait(20);
      assert.ok(w === WaitResult.Ready || w === WaitResult.Timeout, `wait returned ${w}`);
      continue;
    }
    for (let i = 0; i < n; i++) out.push({ offset: frames[i]! * FRAME_SIZE, length: lengths[i]!, checksum: checksums[i]! });
  }
  return out;
}

// ---- the PACKET_AUXDATA cmsg parser ------------------------------------------------------------------------

const AUX_NOT_READY = hex(`
  2400 0000 0000 0000   # cmsg_len 36 (16 + 20), little-endian size_t
  0701 0000  0800 0000  # cmsg_level 263 (SOL_PACKET), cmsg_type 8 (PACKET_AUXDATA)
  0900 0000             # tp_status: USER | CSUMNOTREADY
  6400 0000 6400 0000   # tp_len 100, tp_snaplen 100
  0000 0e00 0000 0000   # tp_mac 0, tp_net 14, no VLAN
  0000 0000             # CMSG_ALIGN padding to 40
`);
const AUX_VALID = AUX_NOT_READY.slice();
AUX_VALID[16] = 0x81; // tp_status: USER | CSUM_VALID
const AUX_PLAIN = AUX_NOT_READY.slice();
AUX_PLAIN[16] = 0x01; // tp_status: USER only
const TIMESTAMP_FIRST = new Uint8Array([...hex(`
  2000 0000 0000 0000   # cmsg_len 32
  0100 0000  1d00 0000  # cmsg_level 1 (SOL_SOCKET), cmsg_type 29 (SO_TIMESTAMP)
  0000 0000 0000 0000   # tv_sec
  0000 0000 0000 0000   # tv_usec
`), ...AUX_NOT_READY]);
const WRONG_TYPE = AUX_NOT_READY.slice();
WRONG_TYPE[12] = 0x07; // cmsg_type 7: not PACKET_AUXDATA

for (const c of [
  { name: 'CSUMNOTREADY', bytes: AUX_NOT_READY, used: 40, want: RxChecksum.NotReady },
  { name: 'CSUM_VALID', bytes: AUX_VALID, used: 40, want: RxChecksum.Valid },
  { name: 'neither bit', bytes: AUX_PLAIN, used: 40, want: RxChecksum.Unknown },
  { name: 'after another cmsg (SO_TIMESTAMP)', bytes: TIMESTAMP_FIRST, used: 72, want: RxChecksum.NotReady },
  { name: 'another cmsg type only', bytes: WRONG_TYPE, used: 40, want: RxChecksum.Unknown },
  { name: 'no control data (msg_controllen 0)', bytes: AUX_NOT_READY, used: 0, want: RxChecksum.Unknown },
  { name: 'cut short (MSG_CTRUNC)', bytes: AUX_NOT_READY, used: 24, want: RxChecksum.Unknown },
]) {
  Csum(`auxdataChecksum: ${c.name}`, () => {
    // At an offset inside a larger buffer, as the per-message control areas are.
    const area = new Uint8Array(128);
    area.set(c.bytes, 32);
    assert.is(auxdataChecksum(new DataView(area.buffer), 32, c.used), c.want);
  });
}

// ---- without root: AF_UNIX has no checksum status ------------------------------------------------------

for (const mode of ['recvmmsg', 'readv'] as const) {
  Csum(`${mode} over an AF_UNIX datagram pair: every packet Unknown, no auxdata, counters stay 0`, () => {
    const [left, right] = openSocketPair({ type: 'dgram' });
    const counters = new DispatcherCounters();
    const d = open(mode, right, frameArea(), counters);
    try {
      if (mode === 'recvmmsg') assert.is((d as ReturnType<typeof createRecvmmsgDispatcher>).auxdata, false, 'no PACKET_AUXDATA on AF_UNIX');
      const payload = new Uint8Array(60).fill(0x5a);
      for (let i = 0; i < 3; i++) assert.is(sys.write(left, payload, payload.length), 60);
      const got = collect(d, 3);
      assert.equal(got.map((p) => [p.length, p.checksum]), [[60, 0], [60, 0], [60, 0]], 'lengths and statuses');
      assert.is(counters.rxChecksumNotReady + counters.rxChecksumValid, 0);
    } finally {
      d.close();
      closeFds([left, right]);
    }
  });
}

// ---- as root: a veth with tx checksum offload on, then off -----------------------------------------------


/** What the UDP checksum field of the test frame at `p` holds, and whether a software check passes. */
function inspect(bytes: Uint8Array, p: Delivered): { field: number; pseudo: number; verifies: boolean } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ip = p.offset + 14, udp = ip + 20;
  const length = view.getUint16(udp + 4);
  const pseudo = pseudoHeaderChecksumV4(17, view.getUint32(ip + 12), view.getUint32(ip + 16), length);
  return { field: view.getUint16(udp + 6), pseudo, verifies: verifyUdpChecksum(view, IPV4_PROTOCOL_NUMBER, ip, udp, length) };
}

const reason = netnsUnavailableReason();
if (reason !== '') {
  console.log(`fdbased/checksum-status: skipping the veth tests: ${reason}`);
} else {
  let topo: VethNetns | undefined;
  Csum.before(() => {
    topo = createVethNetns('cs');
  });
  Csum.after(() => destroyVethNetns(topo));

  for (const c of [
    { mode: 'recvmmsg', offload: true, want: RxChecksum.NotReady },
    { mode: 'mmap', offload: true, want: RxChecksum.NotReady },
    { mode: 'readv', offload: true, want: RxChecksum.Unknown }, // no cmsg: it cannot know
    { mode: 'recvmmsg', offload: false, want: -1 }, // -1: anything but NotReady
    { mode: 'mmap', offload: false, want: -1 },
  ] as const) {
    Csum(`${c.mode}, sender's tx checksum offload ${c.offload ? 'on' : 'off'}: ${c.want === -1 ? 'never NotReady, checksums verify' : `every datagram ${c.want === RxChecksum.NotReady ? 'NotReady, field = pseudo-header sum' : 'Unknown'}`}`, () => {
      const t = topo!;
      assert.is(setTxChecksum(t.ns, t.a, c.offload), c.offload ? 1 : 0, 'tx checksum offload as asked');
      const { fds } = openPacketSockets(t.b, 1, { netns: t.ns });
      const counters = new DispatcherCounters();
      const area = frameArea();
      const d = open(c.mode, fds[0]!, area, counters);
      try {
        const sent = sendUdpFlows(t.ns, { flows: 2, perFlow: 5, payloadBytes: 101, destinationPort: PORT });
        assert.is(sent.sourcePorts.length, 2);
        const got = collect(d, 10).filter((p) => parseTestFrame(area.bytes, p.offset, p.length, PORT) !== null);
        assert.is(got.length, 10, 'every datagram arrived');
        for (const p of got) {
          const f = inspect(area.bytes, p);
          if (c.want === -1) {
            assert.ok(p.checksum === RxChecksum.Unknown || p.checksum === RxChecksum.Valid, `status ${p.checksum}`);
            assert.ok(f.verifies, 'a complete checksum');
            continue;
          }
          assert.is(p.checksum, c.want, 'status');
          // CHECKSUM_PARTIAL: the field holds the (uncomplemented) pseudo-header sum, so software verification fails.
          assert.is(f.field, f.pseudo, `field 0x${f.field.toString(16)} = pseudo-header sum 0x${f.pseudo.toString(16)}`);
          assert.not.ok(f.verifies, 'a partial checksum does not verify in software');
        }
        const notReady = got.filter((p) => p.checksum === RxChecksum.NotReady).length;
        const valid = got.filter((p) => p.checksum === RxChecksum.Valid).length;
        // The counters count every delivered packet, the filter above only ours: at least ours.
        assert.ok(counters.rxChecksumNotReady >= notReady && counters.rxChecksumValid >= valid, `counters ${counters.rxChecksumNotReady}/${counters.rxChecksumValid}`);
        if (c.want === RxChecksum.NotReady) assert.is(counters.rxChecksumNotReady, notReady);
        if (c.want === RxChecksum.Unknown || c.want === -1) assert.is(counters.rxChecksumNotReady, 0);
      } finally {
        d.close();
        closeFds(fds);
      }
    });
  }

  // Mixed statuses in one batch, a frame for another MAC among them: the Ethernet filter's compaction must
  // keep each status with its frame. UDP (offloaded: NotReady), ICMP to another host's MAC (dropped), ICMP
  // (checksummed by the sender itself: Unknown), UDP again.
  const MIXED_PY = `
import socket, struct, sys
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
echo = struct.pack('!BBHHH', 8, 0, 0, 7, 1) + b'pingpong'
echo = echo[:2] + struct.pack('!H', csum(echo)) + echo[4:]
u.sendto(b'first', (sys.argv[1], int(sys.argv[3])))
r.sendto(echo, (sys.argv[2], 0))
r.sendto(echo, (sys.argv[1], 0))
u.sendto(b'second', (sys.argv[1], int(sys.argv[3])))
`;
  for (const mode of ['recvmmsg', 'mmap'] as const) {
    Csum(`endpoint (${mode}, Ethernet, MAC filter): statuses stay with their frames when a frame for another host is dropped`, () => {
      const t = topo!;
      assert.is(setTxChecksum(t.ns, t.a, true), 1);
      ip('-n', t.ns, 'neigh', 'replace', OTHER_IPV4, 'lladdr', '02:00:00:00:00:10', 'dev', t.a);
      const { fds } = openPacketSockets(t.b, 1, { netns: t.ns });
      const endpoint = createEndpoint({ fds, ethernetHeader: true, linkAddress: SINK_MAC, dispatchMode: mode });
      const area = frameArea();
      try {
        endpoint.attach(0, area);
        execFileSync('ip', ['netns', 'exec', t.ns, 'python3', '-c', MIXED_PY, SINK_IPV4, OTHER_IPV4, String(PORT)], { timeout: 10_000 });
        const frames = Int32Array.from({ length: FRAMES }, (_, i) => i);
        const lengths = new Int32Array(FRAMES);
        const checksums = new Uint8Array(FRAMES).fill(0xee);
        let n = 0;
        for (let tries = 0; n === 0 && tries < 100; tries++) {
          n = endpoint.receive(0, frames, lengths, FRAMES, checksums);
          if (n === 0) endpoint.wait(0, 20);
        }
        const view = new DataView(area.bytes.buffer);
        const got = Array.from({ length: n }, (_, i) => {
          const ipAt = frames[i]! * FRAME_SIZE + endpoint.networkOffset(0);
          return [view.getUint8(ipAt + 9), checksums[i]!]; // [IP protocol, status]
        });
        assert.equal(got, [[17, RxChecksum.NotReady], [1, RxChecksum.Unknown], [17, RxChecksum.NotReady]], 'protocol and status per delivered frame');
        assert.is(endpoint.linkCounters[LinkCounter.rxOtherHost], 1, 'the frame for another MAC dropped');
      } finally {
        endpoint.close();
        closeFds(fds);
      }
    });
  }
}

Csum.run();
