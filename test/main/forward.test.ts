/**
 * `netshard forward` end to end, in the forwarding topology (test/helpers/topology.ts: ns-gen ⇄ ns-fwd ⇄
 * ns-sink, kernel forwarding off in ns-fwd). The CLI runs as a child process (`node --import tsx
 * src/main.ts`, what `npx tsx` runs, minus its wrapper process, so signals reach the CLI itself), from
 * the root namespace with `--netns ns-fwd`.
 *
 * - kernel UDP sockets: datagrams from ns-gen reach a socket in ns-sink only through the engine (without
 *   it nothing arrives: checked first), with TTL 63 (IP_RECVTTL), MACs rewritten, and no checksum or
 *   header error counted by the receiving kernel (it drops bad ones: /proc/net/snmp), in every dispatch mode;
 * - `--workers 2`: both workers carry traffic and each flow stays on one worker: flow k sends
 *   BASE + 2^k datagrams, so a worker's receive count decodes into the set of whole flows it carried
 *   (a split flow would not decode), and every flow arrives complete and in order;
 * - `--bridge`: frames cross unchanged (the generator's MAC as source, TTL untouched), each forwarded by
 *   the worker that received it, none through the coordinator;
 * - `--tun`: IP packets the kernel routes into one multi-queue TUN device come out of the other, TTL 63;
 * - a dispatch worker killed mid-run (in-process: the CLI cannot kill its own worker) is replaced and
 *   traffic resumes, every frame of its pool accounted for; stop leaves no thread or fd behind, and the
 *   topology no namespace;
 * - next hops the forwarder namespace's kernel does not know (its own lab, ns-h4*-<pid>, the sink's entries
 *   deleted there, no --neighbor): the engine's stack resolves them by ARP and NDP, the first datagrams wait
 *   and arrive, and once the workers hold the learned entries nothing more goes to the coordinator;
 * - bad options: exit 2 and one line on stderr (no root needed); missing privileges: exit 1, one line.
 *
 * Needs root for everything but the option checks; without it those tests print why and skip.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeFds, openPacketSockets } from '../../src/fdbased/index.ts';
import { Engine, createLab, type WorkerExitEvent, type WorkerStats } from '../../src/workers/index.ts';
import { addNetns, deleteNetns, ip, netnsUnavailableReason } from '../helpers/netns.ts';
import { createForwardTopology, type ForwardTopology } from '../helpers/topology.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const PORT = 9000;
/** Source port of flow 0; flow k sends from SOURCE_PORT + k. */
const SOURCE_PORT = 40_000;

// ─── child processes ────────────────────────────────────────────────────────────────────────────────────

/** A child process with its output collected; every one is killed in `finally` blocks if still alive. */
class Proc {
  readonly child: ChildProcess;
  out = '';
  err = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(argv: readonly string[], options: SpawnOptions = {}) {
    this.child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves once `pattern` shows up in stdout or stderr; rejects if the process exits first or time runs out. */
  async waitFor(pattern: RegExp, what: string, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.out) && !pattern.test(this.err)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`${what}: exited first\n${this.err}${this.out}`);
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${ms} ms\n${this.err}${this.out}`);
      await sleep(20);
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The last stdout line of a finished process, parsed. */
function lastJson<T>(p: Proc): T {
  return JSON.parse(p.out.trim().split('\n').pop() ?? 'null') as T;
}

/** `netshard forward` in ns-fwd (fds opened there with --netns), --json. */
function startForward(t: ForwardTopology, extra: readonly string[] = []): Proc {
  return new Proc([process.execPath, '--import', 'tsx', MAIN, 'forward', '--in', t.fwdIn.name, '--out', t.fwdOut.name, '--netns', t.namespaces.fwd, '--json', ...extra]);
}

interface ForwardSummary {
  stoppedBy: string;
  qdiscBypass: boolean;
  totals: { rxPackets: number; forwarded: number; drops: number };
  workers: { worker: string; interface: string; rxPackets: number; forwarded: number; toCoordinator: number; drops: number }[];
  coordinator: { eventLoopUtilization: number };
}

/** Sends SIGINT and returns the exit code and the --json summary. */
async function stopForward(p: Proc): Promise<{ code: number | null; summary: ForwardSummary }> {
  p.child.kill('SIGINT');
  const { code } = await p.exited;
  return { code, summary: lastJson<ForwardSummary>(p) };
}

/**
 * The receiver, in ns-sink: a kernel UDP socket with IP_RECVTTL (12; TTLs arrive as IP_TTL, 2, cmsgs),
 * plus an AF_PACKET socket on the interface to see the MACs of the frames to our port. Counts per
 * source port and in-order arrival per flow (the payload starts with the flow's sequence number), and
 * what the kernel dropped meanwhile: UDP checksum errors, IPv4 header errors, receive-buffer overflows.
 * argv: address port expected-count timeout-seconds interface. Prints "ready", then one JSON line.
 */
const SINK_PY = `
import json, select, socket, struct, sys, time
addr, port, expect, timeout, iface = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
IP_RECVTTL, IP_TTL, SO_RCVBUFFORCE, ETH_P_IP = 12, 2, 33, 0x0800
def snmp():
    rows = [l.split() for l in open('/proc/net/snmp')]
    return {h[0].rstrip(':'): dict(zip(h[1:], map(int, v[1:]))) for h, v in zip(rows[0::2], rows[1::2])}
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
raw.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
raw.bind((iface, 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
s.bind((addr, port))
before = snmp()
print('ready', flush=True)
ttls, flows, macs, last = {}, {}, {}, {}
received, order_errors = 0, 0
deadline = time.time() + timeout
def drain_raw():
    while True:
        try:
            frame = raw.recv(64, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        if len(frame) < 42 or frame[23] != 17: continue
        ihl = (frame[14] & 15) * 4
        if struct.unpack('!H', frame[14 + ihl + 2:14 + ihl + 4])[0] != port: continue
        key = frame[6:12].hex(':') + '>' + frame[0:6].hex(':')
        macs[key] = macs.get(key, 0) + 1
while received < expect and time.time() < deadline:
    ready = select.select([s, raw], [], [], 0.05)[0]
    if raw in ready: drain_raw()
    if s not in ready: continue
    data, anc, _, src = s.recvmsg(2048, socket.CMSG_SPACE(4))
    received += 1
    for level, kind, value in anc:
        if level == socket.IPPROTO_IP and kind == IP_TTL:
            ttl = str(struct.unpack('i', value[:4])[0])
            ttls[ttl] = ttls.get(ttl, 0) + 1
    flow, seq = str(src[1]), struct.unpack('!I', data[:4])[0]
    flows[flow] = flows.get(flow, 0) + 1
    if seq <= last.get(flow, -1): order_errors += 1
    last[flow] = seq
time.sleep(0.05)
drain_raw()
after = snmp()
print(json.dumps({'received': received, 'ttls': ttls, 'flows': flows, 'orderErrors': order_errors, 'macs': macs,
  'udpInCsumErrors': after['Udp']['InCsumErrors'] - before['Udp']['InCsumErrors'],
  'ipInHdrErrors': after['Ip']['InHdrErrors'] - before['Ip']['InHdrErrors'],
  'udpRcvbufErrors': after['Udp']['RcvbufErrors'] - before['Udp']['RcvbufErrors']}), flush=True)
`;

/**
 * For the --tun test, inside its namespace: opens a packet socket on argv[1] (the egress TUN device), sends
 * argv[3] UDP datagrams to argv[2] (one destination port each, so flows spread over the queues), and
 * prints how many IPv4 packets to argv[2] arrived on the device and their TTLs.
 */
const TUN_PROBE_PY = `
import json, socket, sys, time
dev, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
r.bind((dev, 0))
r.settimeout(0.2)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n): s.sendto(b'netshard', (dst, 9000 + i))
seen, ttls, deadline = 0, {}, time.time() + 3
while seen < n and time.time() < deadline:
    try:
        p = r.recv(2048)
    except socket.timeout:
        continue
    if socket.inet_ntoa(p[16:20]) != dst: continue
    seen += 1
    ttls[str(p[8])] = ttls.get(str(p[8]), 0) + 1
print(json.dumps({'seen': seen, 'ttls': ttls}))
`;

interface SinkReport {
  received: number;
  ttls: Record<string, number>;
  flows: Record<string, number>;
  orderErrors: number;
  macs: Record<string, number>;
  udpInCsumErrors: number;
  ipInHdrErrors: number;
  udpRcvbufErrors: number;
}

async function startSink(t: ForwardTopology, expect: number, seconds: number): Promise<Proc> {
  const p = new Proc(['ip', 'netns', 'exec', t.namespaces.sink, 'python3', '-c', SINK_PY, t.sink.ipv4, String(PORT), String(expect), String(seconds), t.sink.name]);
  await p.waitFor(/^ready$/m, 'the sink');
  return p;
}

async function sinkReport(p: Proc): Promise<SinkReport> {
  const { code } = await p.exited;
  assert.is(code, 0, `the sink failed: ${p.err}`);
  return lastJson<SinkReport>(p);
}

/**
 * The generator, in ns-gen: one kernel UDP socket per flow (flow k bound to SOURCE_PORT + k) sending
 * counts[k] datagrams (an 18-byte payload: sequence number, flow) to the sink, round-robin over the flows,
 * about `pps` per second. Bounded by the counts. Prints {"sent":N}.
 */
const SENDER_JS = `
const dgram = require('node:dgram');
const [dst, port, countsJson, pps, base] = process.argv.slice(1);
const counts = JSON.parse(countsJson), left = counts.slice(), seq = counts.map(() => 0);
const sockets = counts.map((_, k) => dgram.createSocket('udp4'));
let bound = 0, sent = 0;
sockets.forEach((s, k) => s.bind(Number(base) + k, () => { if (++bound === sockets.length) tick(); }));
const perTick = Math.max(1, Math.round(Number(pps) / 100));
function tick() {
  for (let n = 0; n < perTick && left.some((x) => x > 0); ) {
    for (let k = 0; k < counts.length && n < perTick; k++) {
      if (left[k] === 0) continue;
      const b = Buffer.alloc(18);
      b.writeUInt32BE(seq[k]++, 0);
      b.writeUInt32BE(k, 4);
      sockets[k].send(b, Number(port), dst);
      left[k]--; n++; sent++;
    }
  }
  if (left.some((x) => x > 0)) setTimeout(tick, 10);
  else setTimeout(() => { sockets.forEach((s) => s.close()); console.log(JSON.stringify({ sent })); }, 100);
}
`;

async function send(t: ForwardTopology, counts: readonly number[], pps: number): Promise<number> {
  const p = new Proc(['ip', 'netns', 'exec', t.namespaces.gen, process.execPath, '-e', SENDER_JS, t.sink.ipv4, String(PORT), JSON.stringify(counts), String(pps), String(SOURCE_PORT)]);
  const { code } = await p.exited;
  assert.is(code, 0, `the sender failed: ${p.err}`);
  return lastJson<{ sent: number }>(p).sent;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

// ─── root tests ─────────────────────────────────────────────────────────────────────────────────────────

const Forward = suite('main/forward');
const reason = netnsUnavailableReason();
let topology: ForwardTopology | undefined;
const live: Proc[] = [];
const track = (p: Proc): Proc => (live.push(p), p);

if (reason !== '') {
  console.log(`main/forward: skipping the namespace tests: ${reason}`);
} else {
  Forward.before(() => {
    topology = createForwardTopology({ kernelForwarding: false, ipv6: false }); // no IPv6: quiet links, exact counts
  });
  Forward.after(() => {
    for (const p of live) p.kill();
    topology?.destroy();
  });

  Forward('without the engine nothing arrives (kernel forwarding is off in ns-fwd)', async () => {
    const t = topology!;
    assert.is(t.kernelForwarding, false);
    const sink = track(await startSink(t, 200, 1));
    const sent = await send(t, [100, 100], 2000);
    const got = await sinkReport(sink);
    assert.is(sent, 200);
    assert.is(got.received, 0, 'no packet crosses ns-fwd by itself');
  });

  // Each dispatch mode runs once in this file: recvmmsg here, mmap with two workers, readv in the bridge.
  Forward('kernel UDP through the engine (recvmmsg): TTL 63, MACs rewritten, checksums the sink accepts', async () => {
    const t = topology!;
    const counts = [150, 150, 150, 150];
    const cli = track(startForward(t, ['--mode', 'recvmmsg']));
    const sink = track(await startSink(t, sum(counts), 10));
    await cli.waitFor(/^forwarding /m, 'netshard forward ready');
    const sent = await send(t, counts, 4000);
    const got = await sinkReport(sink);
    const { code, summary } = await stopForward(cli);
    assert.is(code, 0, `exit code after SIGINT (stderr: ${cli.err})`);
    assert.is(summary.stoppedBy, 'SIGINT');
    assert.is(summary.qdiscBypass, true, 'sockets bypass the qdisc by default');
    assert.is(sent, sum(counts));
    assert.is(got.received, sent, 'every datagram arrived');
    assert.equal(got.ttls, { '63': sent }, 'TTL 64 - 1 on every one');
    assert.equal(got.macs, { [`${t.fwdOut.mac}>${t.sink.mac}`]: sent }, 'from fwd-out\'s MAC to the sink\'s');
    assert.is(got.udpInCsumErrors, 0, 'no UDP checksum error');
    assert.is(got.ipInHdrErrors, 0, 'no IPv4 header (checksum) error');
    assert.is(got.orderErrors, 0);
    const inbound = summary.workers.filter((w) => w.interface === t.fwdIn.name);
    assert.is(sum(inbound.map((w) => w.forwarded)), sent, 'the engine forwarded each one once');
    assert.is(summary.totals.drops, 0);
    assert.not.match(cli.err, /error|warning/i);
  });

  Forward('--workers 2 (mmap) --qdisc: both workers carry traffic, every flow stays on one worker', async () => {
    const t = topology!;
    // Flow k sends BASE + 2^k datagrams (BASE > 2^FLOWS): a worker that carried the set S of whole flows
    // received |S|·BASE + Σ_{k∈S} 2^k, which decodes back to S; a flow split between workers would not.
    const FLOWS = 10, BASE = 1100;
    const counts = Array.from({ length: FLOWS }, (_, k) => BASE + (1 << k));
    const decode = (n: number): number[] | null => {
      const bits = n % BASE;
      const flows = [...Array(FLOWS).keys()].filter((k) => (bits & (1 << k)) !== 0);
      return bits < 1 << FLOWS && flows.length === Math.floor(n / BASE) ? flows : null;
    };
    const cli = track(startForward(t, ['--workers', '2', '--mode', 'mmap', '--qdisc']));
    const sink = track(await startSink(t, sum(counts), 15));
    await cli.waitFor(/^forwarding /m, 'netshard forward ready');
    const sent = await send(t, counts, 20_000);
    const got = await sinkReport(sink);
    const { code, summary } = await stopForward(cli);
    assert.is(code, 0, cli.err);
    assert.is(summary.qdiscBypass, false, '--qdisc sends through the qdisc');
    assert.is(got.received, sent, `every datagram arrived (sink overflows: ${got.udpRcvbufErrors})`);
    assert.equal(got.flows, Object.fromEntries(counts.map((c, k) => [String(SOURCE_PORT + k), c])), 'each flow complete');
    assert.is(got.orderErrors, 0, 'each flow in order');
    const inbound = summary.workers.filter((w) => w.interface === t.fwdIn.name);
    assert.is(inbound.length, 2);
    const received = inbound.map((w) => w.rxPackets);
    assert.is(sum(received), sent, `the two workers received ${received.join(' + ')}`);
    for (const [i, n] of received.entries()) assert.ok(n > 0, `worker ${i} carried traffic (${received.join(', ')})`);
    const sets = received.map(decode);
    assert.ok(sets.every((s) => s !== null), `each worker's count is a set of whole flows: ${received.join(', ')}`);
    assert.equal([...sets[0]!, ...sets[1]!].sort((a, b) => a - b), [...Array(FLOWS).keys()], 'the two sets split the flows');
    assert.equal(inbound.map((w) => w.forwarded), received, 'each worker forwarded what it received');
  });

  Forward('--bridge (readv): frames cross unchanged, MACs and TTL included, forwarded in the workers', async () => {
    const t = topology!;
    // The generator addresses its frames to the sink's MAC, as on one LAN; the bridge must not touch them.
    ip('-n', t.namespaces.gen, 'neigh', 'replace', t.fwdIn.ipv4, 'lladdr', t.sink.mac, 'dev', t.gen.name, 'nud', 'permanent');
    try {
      const counts = [200, 200, 200];
      const cli = track(startForward(t, ['--bridge', '--workers', '2', '--mode', 'readv']));
      const sink = track(await startSink(t, sum(counts), 10));
      await cli.waitFor(/^forwarding /m, 'netshard forward ready');
      const sent = await send(t, counts, 4000);
      const got = await sinkReport(sink);
      const { code, summary } = await stopForward(cli);
      assert.is(code, 0, cli.err);
      assert.is(got.received, sent);
      assert.equal(got.ttls, { '64': sent }, 'TTL untouched');
      assert.equal(got.macs, { [`${t.gen.mac}>${t.sink.mac}`]: sent }, 'the generator\'s frames as they were');
      assert.is(got.udpInCsumErrors + got.ipInHdrErrors, 0);
      assert.is(summary.totals.drops, 0);
      // Run to completion: every worker that received frames sent each one on itself; none went to the
      // coordinator.
      const carrying = summary.workers.filter((w) => w.rxPackets > 0);
      assert.ok(carrying.some((w) => w.interface === t.fwdIn.name), 'an inbound worker carried the datagrams');
      for (const w of summary.workers) {
        assert.is(w.toCoordinator, 0, `${w.worker}: nothing handed to the coordinator`);
        assert.is(w.forwarded, w.rxPackets, `${w.worker}: forwarded all it received (${w.forwarded} of ${w.rxPackets})`);
      }
      for (const w of carrying) assert.ok(w.forwarded > 0, `${w.worker} forwarded its traffic itself`);
      const inbound = summary.workers.filter((w) => w.interface === t.fwdIn.name);
      assert.ok(sum(inbound.map((w) => w.forwarded)) >= sent, `the inbound workers forwarded ${sum(inbound.map((w) => w.forwarded))} frames, ${sent} datagrams sent`);
    } finally {
      ip('-n', t.namespaces.gen, 'neigh', 'replace', t.fwdIn.ipv4, 'lladdr', t.fwdIn.mac, 'dev', t.gen.name, 'nud', 'permanent');
    }
  });

  Forward('--tun: packets routed into one TUN device leave the other, TTL 63', async () => {
    // One namespace, two multi-queue TUN devices: the kernel routes 198.19.9.0/24 into ta; netshard's
    // --route sends it out of tb, where the kernel receives it (a packet socket on tb sees it arrive).
    const pid = process.pid, ns = `ns-tun-${pid}`, ta = `ta-${pid}`, tb = `tb-${pid}`;
    addNetns(ns);
    try {
      for (const [dev, address] of [[ta, '198.18.7.1/24'], [tb, '198.18.8.1/24']] as const) {
        ip('-n', ns, 'tuntap', 'add', 'mode', 'tun', 'multi_queue', 'name', dev);
        ip('-n', ns, 'addr', 'add', address, 'dev', dev);
        ip('-n', ns, 'link', 'set', dev, 'up');
      }
      ip('-n', ns, 'route', 'add', '198.19.9.0/24', 'dev', ta);
      const cli = track(new Proc([process.execPath, '--import', 'tsx', MAIN, 'forward', '--tun', '--in', ta, '--out', tb, '--workers', '2', '--netns', ns, '--route', `198.19.9.0/24,dev=${tb}`, '--json']));
      await cli.waitFor(/^forwarding /m, 'netshard forward --tun ready');
      const probe = track(new Proc(['ip', 'netns', 'exec', ns, 'python3', '-c', TUN_PROBE_PY, tb, '198.19.9.5', '40']));
      const { code: probeCode } = await probe.exited;
      assert.is(probeCode, 0, probe.err);
      const seen = lastJson<{ seen: number; ttls: Record<string, number> }>(probe);
      const { code, summary } = await stopForward(cli);
      assert.is(code, 0, cli.err);
      assert.equal(seen, { seen: 40, ttls: { '63': 40 } }, 'all 40 arrived on tb, TTL 64 - 1');
      assert.is(sum(summary.workers.filter((w) => w.interface === ta).map((w) => w.forwarded)), 40);
    } finally {
      deleteNetns(ns); // the TUN devices go with the namespace (and with netshard's fds, closed at exit)
    }
  });

  Forward('a killed worker is replaced, traffic resumes, every frame accounted for; stop leaves no thread or fd', async () => {
    const t = topology!;
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const threadsBefore = readdirSync('/proc/self/task').length;
    const a = openPacketSockets(t.fwdIn.name, 1, { netns: t.namespaces.fwd });
    const b = openPacketSockets(t.fwdOut.name, 1, { netns: t.namespaces.fwd });
    const engine = new Engine({
      links: [
        { fds: a.fds, ethernetHeader: true, linkAddress: t.fwdIn.mac },
        { fds: b.fds, ethernetHeader: true, linkAddress: t.fwdOut.mac },
      ],
      forwarding: {
        addresses: [{ link: 0, address: `${t.fwdIn.ipv4}/24` }, { link: 1, address: `${t.fwdOut.ipv4}/24` }],
        neighbors: [{ link: 1, address: t.sink.ipv4, linkAddress: t.sink.mac }],
      },
    });
    const exits: { event: WorkerExitEvent; last: WorkerStats }[] = [];
    engine.on('workerExit', (event: WorkerExitEvent) => exits.push({ event, last: engine.workerStats()[event.slot]! }));
    const online = new Promise<void>((resolve) => engine.once('workerOnline', () => resolve()));
    const counts = [800, 800, 800];
    let sent = 0, afterRestart = 0;
    let got: SinkReport;
    try {
      await engine.start();
      const sink = track(await startSink(t, sum(counts), 8));
      const sending = send(t, counts, 2000);
      for (let i = 0; i < 250 && engine.workerStats()[0]!.forwarded < 500; i++) await sleep(20);
      assert.ok(engine.workerStats()[0]!.forwarded >= 500, 'traffic flows before the kill');
      await engine.worker(0).worker.terminate();
      await Promise.race([online, sleep(10_000).then(() => Promise.reject(new Error('no replacement worker within 10 s')))]);
      sent = await sending;
      got = await sinkReport(sink);
      afterRestart = engine.workerStats()[0]!.forwarded;
    } finally {
      await engine.stop();
      closeFds([...a.fds, ...b.fds]);
    }
    for (const p of engine.framePools()) assert.is(p.available, p.frameCount, `after stop, pool of slot ${p.slot} is full`);
    assert.is(exits.length, 1);
    const { event, last } = exits[0]!;
    assert.is(event.reason, 'died');
    assert.ok(event.restarting);
    const r = event.retiredPool!;
    assert.is(r.free + r.inRxRing + r.inCompletionRing + r.inWorker, r.frameCount, 'the dead pool: every frame somewhere');
    assert.ok(afterRestart > 0, 'the new worker forwards: traffic resumed');
    assert.is(sent, sum(counts));
    const lost = sent - got!.received;
    assert.ok(lost >= 0 && lost <= r.inWorker, `lost ${lost}: at most the ${r.inWorker} frames in the dead thread's hands`);
    assert.ok(got!.received <= last.forwarded + afterRestart, 'nothing arrived that no generation forwarded');
    assert.is(got!.orderErrors, 0);
    assert.is(readdirSync('/proc/self/fd').length, fdsBefore, 'every fd closed');
    for (let i = 0; i < 150 && readdirSync('/proc/self/task').length > threadsBefore; i++) await sleep(20);
    assert.ok(readdirSync('/proc/self/task').length <= threadsBefore, 'every worker thread ended');
  });

  Forward('destroying the topology leaves no namespace behind', () => {
    for (const p of live) assert.ok(p.child.exitCode !== null || p.child.signalCode !== null, `${p.child.spawnargs.join(' ').slice(0, 60)} still runs`);
    topology!.destroy();
    const left = ip('netns', 'list').split('\n').filter((line) => line.includes(`-${process.pid}`));
    assert.equal(left, []);
  });
}

// ─── next hops resolved by the engine's own stack (ARP / NDP) ───────────────────────────────────────────

/**
 * The receiver for the resolution test, in its sink namespace: one UDP socket per family on PORT with
 * IP_RECVTTL / IPV6_RECVHOPLIMIT (cmsg IP_TTL 2 / IPV6_HOPLIMIT 52), counting datagrams and TTLs per family.
 * Prints "ready", "progress <v4> <v6>" for each of the first `progress` datagrams, then one JSON line.
 * argv: address4 address6 port expected-count timeout-seconds progress.
 */
const DUAL_SINK_PY = `
import json, select, socket, struct, sys, time
a4, a6, port, expect, timeout, progress = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
IP_RECVTTL, IP_TTL, IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT, SO_RCVBUFFORCE = 12, 2, 51, 52, 33
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
s4.bind((a4, port))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
s6.bind((a6, port))
for s in (s4, s6): s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
print('ready', flush=True)
got, ttls = {'4': 0, '6': 0}, {'4': {}, '6': {}}
deadline = time.time() + timeout
while got['4'] + got['6'] < expect and time.time() < deadline:
    for s in select.select([s4, s6], [], [], 0.05)[0]:
        family = '4' if s is s4 else '6'
        data, anc, _, src = s.recvmsg(2048, socket.CMSG_SPACE(4))
        got[family] += 1
        for level, kind, value in anc:
            if (level, kind) in ((socket.IPPROTO_IP, IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)):
                t = str(struct.unpack('i', value[:4])[0])
                ttls[family][t] = ttls[family].get(t, 0) + 1
        if got['4'] + got['6'] <= progress: print('progress %d %d' % (got['4'], got['6']), flush=True)
print(json.dumps({'got': got, 'ttls': ttls}), flush=True)
`;

/** In its generator namespace: `count` UDP datagrams to each of two addresses (argv: a4 a6 port count), ~2000/s. */
const DUAL_SEND_PY = `
import socket, sys, time
a4, a6, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s4, s6 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(count):
    s4.sendto(b'netshard %d' % i, (a4, port))
    s6.sendto(b'netshard %d' % i, (a6, port))
    if i % 20 == 19: time.sleep(0.02)
print(count)
`;

interface ResolveSummary extends ForwardSummary {
  workers: (ForwardSummary['workers'][number] & { forwardReasons: Record<string, number> })[];
  coordinator: ForwardSummary['coordinator'] & {
    neighbors?: { handoffs: number; forwarded: number; queued: number; sentAfterResolution: number; unresolved: number; dropped: number; resolutions: number; published: number; updates: number };
  };
}

const Resolve = suite('main/forward-resolve');

if (reason !== '') {
  console.log(`main/forward-resolve: skipping the namespace test: ${reason}`);
} else {
  Resolve('next hops the kernel does not know: resolved by the engine (ARP and NDP), then forwarded by the workers', async () => {
    // Its own lab (IPv6 on), and the sink's entries deleted from the forwarder namespace's kernel table:
    // netshard reads no neighbour for the sink at start and gets no --neighbor.
    const lab = createLab({ names: { genNs: 'ns-h4g', fwdNs: 'ns-h4f', sinkNs: 'ns-h4s', gen: 'h4g', fwdIn: 'h4i', fwdOut: 'h4o', sink: 'h4s' }, kernelForwarding: false });
    const procs: Proc[] = [];
    try {
      const ns = lab.namespaces, sink = lab.sink;
      for (const address of [sink.ipv4, sink.ipv6!]) ip('-n', ns.fwd, 'neigh', 'del', address, 'dev', lab.fwdOut.name);
      assert.is(ip('-n', ns.fwd, 'neigh', 'show', 'dev', lab.fwdOut.name).trim(), '', 'the forwarder namespace knows no neighbour on the sink side');
      const PHASE1 = 5, PHASE2 = 300, total = 2 * (PHASE1 + PHASE2);
      const cli = new Proc([process.execPath, '--import', 'tsx', MAIN, 'forward', '--in', lab.fwdIn.name, '--out', lab.fwdOut.name, '--netns', ns.fwd, '--json']);
      procs.push(cli);
      const receiver = new Proc(['ip', 'netns', 'exec', ns.sink, 'python3', '-c', DUAL_SINK_PY, sink.ipv4, sink.ipv6!, String(PORT), String(total), '20', String(2 * PHASE1)]);
      procs.push(receiver);
      await receiver.waitFor(/^ready$/m, 'the sink');
      await cli.waitFor(/^forwarding /m, 'netshard forward ready');
      const sendBoth = async (count: number): Promise<void> => {
        const p = new Proc(['ip', 'netns', 'exec', ns.gen, 'python3', '-c', DUAL_SEND_PY, sink.ipv4, sink.ipv6!, String(PORT), String(count)]);
        procs.push(p);
        const { code } = await p.exited;
        assert.is(code, 0, p.err);
      };
      // Phase 1: the first datagrams go up to the coordinator, wait while it resolves, and arrive.
      await sendBoth(PHASE1);
      await receiver.waitFor(new RegExp(`^progress ${PHASE1} ${PHASE1}$`, 'm'), 'the phase-1 datagrams at the sink');
      // The learned entries reach the workers (the once-a-second line counts what they hold: gen and sink, v4 and v6).
      await cli.waitFor(/next hops: 4 in workers/, 'the learned next hops in the workers');
      // Phase 2: the workers know both next hops now.
      await sendBoth(PHASE2);
      const { code: sinkCode } = await receiver.exited;
      assert.is(sinkCode, 0, receiver.err);
      const got = lastJson<{ got: Record<string, number>; ttls: Record<string, Record<string, number>> }>(receiver);
      const { code, summary } = await stopForward(cli) as { code: number | null; summary: ResolveSummary };
      assert.is(code, 0, cli.err);
      const each = PHASE1 + PHASE2;
      assert.equal(got.got, { 4: each, 6: each }, 'every datagram of both families arrived');
      assert.equal(got.ttls, { 4: { 63: each }, 6: { 63: each } }, 'TTL / hop limit 64 - 1');
      const n = summary.coordinator.neighbors!;
      assert.ok(n !== undefined, 'the coordinator reports its neighbor work');
      assert.ok(n.resolutions >= 2, `the coordinator resolved the sink by ARP and by NDP (${n.resolutions})`);
      assert.ok(n.handoffs >= 2 && n.handoffs <= 2 * PHASE1, `only phase-1 datagrams went to the coordinator (${n.handoffs})`);
      assert.is(n.forwarded + n.sentAfterResolution, n.handoffs, 'each one sent: at once or after resolution');
      assert.ok(n.sentAfterResolution >= 2, 'at least the first of each family waited for resolution');
      assert.is(n.unresolved + n.dropped, 0);
      assert.ok(n.published >= 3 && n.updates >= 1, `the workers hold the learned entries (${n.published} entries, ${n.updates} updates)`);
      const inbound = summary.workers.filter((w) => w.interface === lab.fwdIn.name);
      assert.is(sum(inbound.map((w) => w.forwarded)) + n.handoffs, 2 * each, 'the rest forwarded in the workers');
      assert.is(sum(inbound.map((w) => w.forwardReasons.Unresolved ?? 0)), n.handoffs, 'handed up for want of a next hop: the phase-1 ones only');
    } finally {
      for (const p of procs) p.kill();
      lab.destroy();
    }
  });
}

// ─── option checks (no root needed) ─────────────────────────────────────────────────────────────────────

const Options = suite('main/options');

/** Runs the CLI to completion (it exits before opening anything for these). */
async function cli(args: readonly string[], options: SpawnOptions = {}): Promise<{ code: number | null; out: string; err: string }> {
  const p = new Proc([process.execPath, '--import', 'tsx', MAIN, ...args], options);
  const timer = setTimeout(() => p.kill(), 20_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, out: p.out, err: p.err };
}

const BAD = [
  { name: 'no command', args: [], want: /^Usage: netshard <command>/ },
  { name: 'unknown command', args: ['frobnicate'], want: /^netshard: unknown command 'frobnicate'/ },
  { name: 'missing --in/--out', args: ['forward'], want: /--in IFACE and --out IFACE are both required/ },
  { name: '--workers 0', args: ['forward', '--in', 'v0', '--out', 'v1', '--workers', '0'], want: /--workers must be an integer from 1 to 64, received '0'/ },
  { name: 'unknown mode', args: ['forward', '--in', 'v0', '--out', 'v1', '--mode', 'xdp'], want: /--mode must be readv, recvmmsg or mmap, received 'xdp'/ },
  { name: 'mmap on TUN', args: ['forward', '--in', 't0', '--out', 't1', '--tun', '--mode', 'mmap'], want: /TUN queues are read with readv/ },
  { name: '--qdisc on TUN', args: ['forward', '--in', 't0', '--out', 't1', '--tun', '--qdisc'], want: /--qdisc applies to AF_PACKET sockets/ },
  { name: 'unknown option', args: ['forward', '--in', 'v0', '--out', 'v1', '--turbo'], want: /unknown option '--turbo'/ },
  { name: 'route host bits', args: ['forward', '--in', 'v0', '--out', 'v1', '--route', '198.18.0.1/24'], want: /198\.18\.0\.1\/24 has host bits set/ },
  { name: 'bridge with routes', args: ['forward', '--in', 'v0', '--out', 'v1', '--bridge', '--route', '198.18.0.0/16'], want: /--route and --neighbor do not apply/ },
] as const;

Options('bad options: exit 2, one line on stderr, nothing on stdout, no stack trace', async () => {
  // Five at a time: each is a Node start-up (~0.8 s of CPU).
  for (let i = 0; i < BAD.length; i += 5) {
    const batch = BAD.slice(i, i + 5);
    const results = await Promise.all(batch.map((c) => cli(c.args)));
    batch.forEach((c, j) => {
      const r = results[j]!;
      assert.is(r.code, 2, `${c.name}: exit code (stderr: ${r.err})`);
      assert.is(r.out, '', `${c.name}: stdout`);
      assert.match(r.err, c.want, `${c.name}: ${r.err}`);
      if (c.args.length > 0) assert.is(r.err.trim().split('\n').length, 1, `${c.name}: one line, got ${r.err}`);
      assert.not.match(r.err, /\n\s+at /, `${c.name}: a stack trace`);
    });
  }
});

Options('help: netshard --help, netshard help forward, netshard forward --help exit 0 on stdout', async () => {
  const [top, topic, own] = await Promise.all([cli(['--help']), cli(['help', 'forward']), cli(['forward', '--help'])]);
  for (const r of [top, topic, own]) {
    assert.is(r.code, 0);
    assert.is(r.err, '');
  }
  assert.match(top.out, /forward +forward packets between two interfaces/);
  assert.match(topic.out, /^Usage: netshard forward --in IFACE --out IFACE/);
  assert.is(own.out, topic.out);
});

Options('missing privileges: exit 1, one line naming the capabilities', async () => {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  // As root, run the CLI as nobody (uid 65534); otherwise this process has no capabilities already.
  // Under c8, NODE_V8_COVERAGE points at a folder nobody may not write, and Node passes it on to every child
  // even when `env` leaves it out: point the unprivileged child at a folder it can write, removed after.
  const coverage = mkdtempSync(join(tmpdir(), 'netshard-cov-'));
  chmodSync(coverage, 0o777);
  try {
    const env = { ...process.env, NODE_V8_COVERAGE: coverage };
    const r = await cli(['forward', '--in', 'v0', '--out', 'v1', '--netns', 'ns-none'], root ? { uid: 65534, gid: 65534, env } : {});
    assert.is(r.code, 1, r.err);
    assert.is(r.err, 'netshard forward: needs CAP_NET_RAW to open AF_PACKET sockets and CAP_SYS_ADMIN to enter --netns: run it as root\n');
  } finally {
    rmSync(coverage, { recursive: true, force: true });
  }
});

Forward.run();
Resolve.run();
Options.run();
