/**
 * Frames whose sender offloaded the checksum, end to end, as root, with the sender's tx checksum offload ON
 * (the veth default; the shared fixtures turn it off, so each test turns it back on and checks it):
 * (1) serve / stack path: a kernel UDP client asks an engine `serve` instance (AppEndpoint) and an engine
 *     UDP socket (the stack's UdpEndpoint); in recvmmsg and mmap modes both answer and the worker counts the
 *     requests as checksum-not-ready; in readv mode (no checksum status) the same requests are dropped as
 *     checksum errors, which shows the requests really carried partial checksums;
 * (2) forwarding: a kernel sender's partial-checksum datagrams forwarded by the engine (StackForwarder over
 *     AF_PACKET, recvmmsg and mmap) reach a kernel socket in the sink namespace, whose UDP InCsumErrors
 *     (/proc/net/snmp) stays 0, and the worker counts each completed checksum.
 * Bounded in packets and seconds; no timing assertions. Skipped with a printed reason without root.
 */
import { execFile, spawn } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openPacketSockets, type DispatchMode } from '../../src/fdbased/index.ts';
import { createSocket, type UdpEndpoint } from '../../src/tcpip/index.ts';
import { Engine, createLab, serve, type ForwardTopology, type UdpServer } from '../../src/workers/index.ts';
import { netnsUnavailableReason, setTxChecksum } from '../helpers/netns.ts';
import { createStackTopology, type StackTopology } from './fixtures/stack-topology.ts';

const Offload = suite('workers/checksum-offload');
const reason = netnsUnavailableReason();
const SERVE_PORT = 9100;
const SOCKET_PORT = 9101;
const SINK_PORT = 9102;
const DATAGRAMS = 40;


/** The client's kernel: one UDP exchange per (port, message) pair in argv, in one process (each python3 start costs ~1 s here). */
const ASK_PY = `
import json, socket, sys
dst, timeout, pairs = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
replies = []
for i in range(0, len(pairs), 2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(pairs[i + 1].encode(), (dst, int(pairs[i])))
    try:
        replies.append(s.recvfrom(2048)[0].decode())
    except socket.timeout:
        replies.append(None)
    s.close()
print(json.dumps(replies))
`;

/** Runs `ASK_PY` in `ns`; resolves to one reply (or null) per pair. */
function ask(ns: string, destination: string, timeoutSeconds: number, pairs: readonly [number, string][]): Promise<(string | null)[]> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, 'python3', '-c', ASK_PY, destination, String(timeoutSeconds), ...pairs.flat().map(String)], { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`ask: ${err.message} ${stderr}`));
      else resolve(JSON.parse(stdout) as (string | null)[]);
    });
  });
}

/** Resolves once `socket` listens on `port`. */
function bound(socket: UdpEndpoint, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('listening', () => resolve());
    socket.once('error', reject);
    socket.bind(port);
  });
}

if (reason !== '') {
  console.log(`workers/checksum-offload: skipped: ${reason}`);
} else {
  // One topology per kind for the whole file (each costs a few python3 starts); every test starts its own engine.
  let topo: StackTopology | null = null;
  let lab: ForwardTopology | null = null;
  Offload.before(() => {
    topo = createStackTopology('co', 21);
    assert.is(setTxChecksum(topo.client.ns, topo.client.name, true), 1, 'client tx checksum offload on');
    lab = createLab({ names: { genNs: 'ns-cog', fwdNs: 'ns-cof', sinkNs: 'ns-cos', gen: 'cog', fwdIn: 'cofi', fwdOut: 'cofo', sink: 'cos' }, ipv6: false, queues: 1 });
    assert.is(setTxChecksum(lab.gen.ns, lab.gen.name, true), 1, 'generator tx checksum offload on');
  });
  Offload.after(() => {
    try {
      topo?.destroy();
    } finally {
      lab?.destroy();
    }
  });

  for (const mode of ['recvmmsg', 'mmap', 'readv'] as const) {
    const accepts = mode !== 'readv';
    Offload(`serve (${mode}): requests with the client's tx checksum offload on are ${accepts ? 'answered by the app instance and an engine socket' : 'dropped as checksum errors (readv cannot tell)'}`, async () => {
      const t = topo!;
      let server: UdpServer | null = null;
      let socket: UdpEndpoint | null = null;
      try {
        server = await serve({
          interface: t.engine.name, netns: t.engine.ns, addresses: [`${t.engine.ipv4}/24`], dispatchMode: mode,
          port: SERVE_PORT, instances: 1, frameCount: 256, txFrameCount: 256,
        });
        socket = createSocket({ type: 'udp4' }, server.udp);
        const s = socket;
        s.on('message', (msg: Buffer, rinfo) => s.send(`socket|${msg.toString()}`, rinfo.port, rinfo.address));
        await bound(s, SOCKET_PORT);
        const [app, udp] = await ask(t.client.ns, t.engine.ipv4, accepts ? 5 : 1, [[SERVE_PORT, 'to-app'], [SOCKET_PORT, 'to-socket']]);
        const stats = server.readStats();
        const worker = stats.workers[0]!;
        const instance = stats.instances[0]!;
        if (accepts) {
          assert.is(app, 'to-app', 'the app instance echoed');
          assert.is(udp, 'socket|to-socket', 'the engine socket answered');
          assert.ok(worker.rxChecksumNotReady >= 2, `worker counted the partial checksums (${worker.rxChecksumNotReady})`);
          assert.is(instance.checksumErrors, 0);
          assert.is(server.udp.stats.checksumErrors, 0, 'the stack\'s UDP endpoints saw no bad checksum');
        } else {
          assert.is(app, null, 'no answer from the app instance');
          assert.is(udp, null, 'no answer from the engine socket');
          assert.is(worker.rxChecksumNotReady, 0, 'readv knows no checksum status');
          assert.ok(instance.checksumErrors >= 1, `the app endpoint saw a bad checksum (${instance.checksumErrors})`);
        }
      } finally {
        try { socket?.close(); } catch { /* closed */ }
        await server?.close();
      }
      for (const p of server!.engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full again`);
    });
  }

  /** The sink's kernel: receives up to `count` datagrams on `port` for at most `seconds`; prints its count and the InCsumErrors delta. */
  const SINK_PY = `
import json, socket, sys, time
addr, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def csum_errors():
    lines = [l.split() for l in open('/proc/net/snmp') if l.startswith('Udp:')]
    return int(lines[1][lines[0].index('InCsumErrors')])
before = csum_errors()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
s.settimeout(0.2)
print('ready', flush=True)
got = []
deadline = time.time() + seconds
while len(got) < count and time.time() < deadline:
    try:
        data, _ = s.recvfrom(2048)
        got.append(data.decode())
    except socket.timeout:
        pass
print(json.dumps({'received': len(got), 'intact': sum(1 for g in got if g.startswith('dg-')), 'csumErrors': csum_errors() - before}), flush=True)
`;
  /** The generator's kernel: `count` datagrams of 200 bytes from one socket, a short pause every 10. */
  const SENDER_PY = `
import socket, sys, time
dst, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(count):
    s.sendto(('dg-%d-' % i).encode().ljust(200, b'x'), (dst, port))
    if i % 10 == 9:
        time.sleep(0.01)
`;

  for (const mode of ['recvmmsg', 'mmap'] as const satisfies readonly DispatchMode[]) {
    Offload(`forwarding (${mode}): partial checksums completed on the way; the sink's kernel takes all, InCsumErrors 0`, async () => {
      const t = lab!;
      let engine: Engine | null = null;
      const fds: number[] = [];
      try {
        const inFds = openPacketSockets(t.fwdIn.name, 1, { netns: t.fwdIn.ns, ignoreOutgoing: true }).fds;
        fds.push(...inFds);
        const outFds = openPacketSockets(t.fwdOut.name, 1, { netns: t.fwdOut.ns, ignoreOutgoing: true }).fds;
        fds.push(...outFds);
        engine = new Engine({
          links: [
            { fds: inFds, ethernetHeader: true, linkAddress: t.fwdIn.mac, dispatchMode: mode },
            { fds: outFds, ethernetHeader: true, linkAddress: t.fwdOut.mac, dispatchMode: mode },
          ],
          frameCount: 256,
          txFrameCount: 64,
          forwarding: {
            addresses: [{ link: 0, address: `${t.fwdIn.ipv4}/24` }, { link: 1, address: `${t.fwdOut.ipv4}/24` }],
            neighbors: [
              { link: 0, address: t.gen.ipv4, linkAddress: t.gen.mac },
              { link: 1, address: t.sink.ipv4, linkAddress: t.sink.mac },
            ],
          },
          stack: { deliverNetworkPacket() { /* nothing for the host in this test */ } },
        });
        await engine.start();
        const sink = spawn('ip', ['netns', 'exec', t.sink.ns, 'python3', '-c', SINK_PY, t.sink.ipv4, String(SINK_PORT), String(DATAGRAMS), '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        const ready = new Promise<void>((resolve, reject) => {
          sink.stdout!.on('data', (chunk: Buffer) => {
            text += chunk.toString();
            if (text.startsWith('ready\n')) resolve();
          });
          sink.once('exit', (code) => reject(new Error(`sink exited ${code} before it was ready`)));
        });
        const result = new Promise<{ received: number; intact: number; csumErrors: number }>((resolve, reject) => {
          sink.once('exit', (code) => (code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop()!)) : reject(new Error(`sink exited ${code}`))));
        });
        await ready;
        await new Promise<void>((resolve, reject) => {
          const sender = spawn('ip', ['netns', 'exec', t.gen.ns, 'python3', '-c', SENDER_PY, t.sink.ipv4, String(SINK_PORT), String(DATAGRAMS)], { stdio: 'ignore', timeout: 15_000 });
          sender.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sender exited ${code}`))));
        });
        const got = await result;
        const w = engine.workerStats()[0]!;
        assert.is(got.csumErrors, 0, 'the sink kernel saw no bad UDP checksum');
        assert.is(got.received, DATAGRAMS, `the sink received every datagram (worker: ${JSON.stringify({ notReady: w.rxChecksumNotReady, completed: w.checksumsCompleted, forwarded: w.forwarded })})`);
        assert.is(got.intact, DATAGRAMS);
        assert.ok(w.rxChecksumNotReady >= DATAGRAMS, `ingress worker saw partial checksums (${w.rxChecksumNotReady})`);
        assert.is(w.checksumsCompleted, DATAGRAMS, 'one completion per forwarded partial datagram');
      } finally {
        await engine?.stop();
        closeFds(fds);
      }
      for (const p of engine!.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full again`);
    });
  }
}

Offload.run();
