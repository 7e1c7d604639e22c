/**
 * Test topology for the privileged fdbased tests: one network namespace holding a veth pair, with the pid in
 * every name, addresses from 198.18.0.0/15 and 2001:2::/48 only, and a kernel UDP sender inside it.
 * Not a test file itself; the `*.test.ts` files import it. Needs root (see `netnsUnavailableReason()`).
 *
 *        namespace ns-<tag>-<pid>
 *   ┌──────────────────────────────────────────────────┐
 *   │  <tag>a<pid> 198.18.0.1/24 ═══ veth ═══ <tag>b<pid>  (no address: only AF_PACKET listens here)
 *   │  static neighbour 198.18.0.9 → 02:00:00:00:00:09, so the kernel sends without ARP
 *   └──────────────────────────────────────────────────┘
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { addNetns, deleteNetns, inNetns, ip, uniqueName } from '../helpers/netns.ts';

/** Where the kernel sends test traffic: no host has it; the static neighbour entry makes frames leave `a`. */
export const SINK_IPV4 = '198.18.0.9';
/** The MAC of the static neighbour `SINK_IPV4`. */
export const SINK_MAC = '02:00:00:00:00:09';
/** The address of the sending end `a`. */
export const SENDER_IPV4 = '198.18.0.1';

/** A namespace with a veth pair; `a` sends (the kernel's UDP stack), `b` is where AF_PACKET listens. */
export interface VethNetns {
  ns: string;
  a: string;
  b: string;
}

/**
 * Creates `ns-<tag>-<pid>` with veth `<tag>a<pid>` ⇄ `<tag>b<pid>`, both up, IPv6 off (no router
 * solicitations to filter), `a` addressed with a static neighbour for `SINK_IPV4`. `tag` is 1-4 letters so
 * names stay <= 15 characters. On failure removes what it made and throws.
 */
export function createVethNetns(tag: string): VethNetns {
  const ns = uniqueName(`ns-${tag}`);
  const a = `${tag}a${process.pid}`;
  const b = `${tag}b${process.pid}`;
  addNetns(ns);
  try {
    inNetns(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ip('-n', ns, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    ip('-n', ns, 'link', 'set', a, 'up');
    ip('-n', ns, 'link', 'set', b, 'up');
    ip('-n', ns, 'addr', 'add', `${SENDER_IPV4}/24`, 'dev', a);
    ip('-n', ns, 'neigh', 'add', SINK_IPV4, 'lladdr', SINK_MAC, 'dev', a);
  } catch (err) {
    deleteNetns(ns);
    throw err;
  }
  return { ns, a, b };
}

/** Deletes the namespace and with it the veth pair. Never throws. */
export function destroyVethNetns(t: VethNetns | undefined): void {
  if (t !== undefined) deleteNetns(t.ns);
}

/** What `sendUdpFlows` sent: the source port of each flow, in order. */
export interface SentFlows {
  sourcePorts: number[];
}

/** What to send: `flows` flows × `perFlow` datagrams of `payloadBytes`, to `SINK_IPV4:destinationPort`. */
export interface UdpFlowsSpec {
  flows: number;
  perFlow: number;
  payloadBytes: number;
  destinationPort: number;
  /** Pause `pauseMs` after every `burst` datagrams (so a reader running meanwhile keeps up). Default: no pause. */
  burst?: number;
  pauseMs?: number;
}

/** The python3 program for `spec`: prints the flows' source ports as a JSON array when done. */
function senderScript(o: UdpFlowsSpec): string {
  if (o.flows * o.perFlow > 100_000 || o.payloadBytes < 4 || o.payloadBytes > 1472) throw new RangeError('udp flows: out of bounds');
  return `
import socket, struct, sys, json, time
flows, per, size, port, burst, pause = ${o.flows}, ${o.perFlow}, ${o.payloadBytes}, ${o.destinationPort}, ${o.burst ?? 0}, ${(o.pauseMs ?? 0) / 1000}
socks = []
for f in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('${SENDER_IPV4}', 0))
    socks.append(s)
sent = 0
for i in range(per):
    for f, s in enumerate(socks):
        body = struct.pack('>HH', f, i) + bytes([(f + i) & 0xff]) * (size - 4)
        s.sendto(body, ('${SINK_IPV4}', port))
        sent += 1
        if burst and sent % burst == 0:
            time.sleep(pause)
print(json.dumps([s.getsockname()[1] for s in socks]))
`;
}

/**
 * Sends `perFlow` UDP datagrams on each of `flows` flows (one kernel socket per flow, so one ephemeral
 * source port each) from `SENDER_IPV4` to `SINK_IPV4:destinationPort`, inside `ns`, and returns when done.
 * Datagram `i` of flow `f` carries `payloadBytes` bytes: u16 f, u16 i (big-endian), then the byte
 * (f + i) & 0xff repeated (`expectedPayloadByte`). Bounded: at most 100000 datagrams, 20 s. Returns the ports.
 */
export function sendUdpFlows(ns: string, o: UdpFlowsSpec): SentFlows {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'python3', '-c', senderScript(o)], { encoding: 'utf8', timeout: 20_000 });
  return { sourcePorts: JSON.parse(out) as number[] };
}

/** A sender running in the background: `done` resolves with the ports once it exits. */
export interface RunningSender {
  child: ChildProcess;
  done: Promise<SentFlows>;
}

/**
 * Starts `sendUdpFlows` in the background (the caller reads meanwhile, synchronously if it likes: the
 * sender is another process). Killed after 20 s. Await `done` afterwards.
 */
export function startUdpFlows(ns: string, o: UdpFlowsSpec): RunningSender {
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', senderScript(o)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<SentFlows>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ sourcePorts: JSON.parse(out) as number[] });
      else reject(new Error(`udp sender exited with ${code}: ${err}`));
    });
  });
  return { child, done };
}

/** The filler byte of datagram `seq` of flow `flow` (see `sendUdpFlows`). */
export function expectedPayloadByte(flow: number, seq: number): number {
  return (flow + seq) & 0xff;
}

/** One test datagram found in a frame by `parseTestFrame`. */
export interface TestDatagram {
  sourcePort: number;
  flow: number;
  seq: number;
  /** UDP payload bytes. */
  payloadBytes: number;
  /** True when every filler byte is `expectedPayloadByte(flow, seq)` and the lengths agree. */
  intact: boolean;
}

const SINK_U32 = SINK_IPV4.split('.').reduce((a, b) => a * 256 + Number(b), 0);

/**
 * Parses the Ethernet frame at `bytes[offset .. offset + length)` as one of `sendUdpFlows`' datagrams to
 * `destinationPort`: Ethernet (14) + IPv4 without options (20) + UDP (8) + u16 flow + u16 seq + filler.
 * Returns null for any other frame.
 */
export function parseTestFrame(bytes: Uint8Array, offset: number, length: number, destinationPort: number): TestDatagram | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, length);
  if (length < 46 || view.getUint16(12) !== 0x0800 || view.getUint8(14) !== 0x45 || view.getUint8(23) !== 17) return null;
  if (view.getUint32(30) !== SINK_U32 || view.getUint16(36) !== destinationPort) return null;
  const udpLength = view.getUint16(38);
  const flow = view.getUint16(42);
  const seq = view.getUint16(44);
  let intact = udpLength === length - 34 && view.getUint16(16) === length - 14;
  const filler = expectedPayloadByte(flow, seq);
  for (let i = 46; i < length && intact; i++) if (view.getUint8(i) !== filler) intact = false;
  return { sourcePort: view.getUint16(34), flow, seq, payloadBytes: udpLength - 8, intact };
}
