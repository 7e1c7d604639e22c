/**
 * bench/forward-gc.ts — end to end: does the real `netshard forward` engine allocate nothing per packet once
 * warm? Runs it under `--trace-gc` in each dispatch mode (readv, recvmmsg, mmap; 1 worker per link) while a
 * bounded flood goes through it, and counts the garbage collections of every V8 isolate (main thread and
 * workers) in the second half of the traffic.
 *
 *   npx tsx bench/forward-gc.ts [--quick] [--json] [--modes readv,recvmmsg,mmap] [--flows N]   (root: it creates namespaces)
 *
 * Exit 1 when a mode fails (as `npm run bench:check`), 0 otherwise (also when skipped: not root).
 *
 * Topology: three namespaces, ns-gca-<pid> (sender) → ns-gcf-<pid> (forwarder) → ns-gcb-<pid> (sink), joined
 * by veths gfa<pid> ⇄ gaf<pid> (198.18.10.1 ⇄ .2/24) and gfb<pid> ⇄ gbf<pid> (198.18.11.2 ⇄ .1/24); IPv6 off,
 * static neighbours, net.ipv4.ip_forward=0 in F (the engine forwards, not F's kernel). The sink's kernel
 * takes the datagrams (no socket: they are dropped after the UDP lookup; no route back for the ICMP error);
 * its veth's rx counter says how many arrived.
 *
 * Per mode: the forwarder runs as its own process, `node --import tsx --trace-gc src/main.ts forward --netns F
 * --in gaf --out gfb --mode M --workers 1 --json --duration D --neighbor 198.18.11.1=<sink MAC>` (node itself,
 * not `npx tsx`, so the process holding the isolates is the one spawned at T0, not a grandchild), stdout
 * (GC trace lines and the summary JSON) to bench/out/forward-gc/<mode>.out, stderr read here until its
 * "forwarding ... Ctrl-C stops" line (Tready; the engine's workers are running then). LEAD_S later the
 * sender (bench/c/udp-flood.c: 64-byte frames, 8 flows, sendmmsg, at most `MAX_PACKETS` and S seconds:
 * 10, --quick 4) floods 198.18.11.1 from A at full speed; it starts at Ts and exits at Te. The forwarder
 * stops by itself at D = LEAD_S + S + TAIL_S after Tready.
 *
 * The steady window is the second half of the traffic, [Ts + (Te - Ts)/2, Te] on this script's clock. A
 * trace line `[pid:0xISOLATE]  t ms: Scavenge ...` gives t since its isolate started, and an isolate's
 * start is not printed; every isolate starts between the spawn (T0) and Tready (the main one at T0, the
 * workers inside engine.start()), so a GC at isolate time t happened somewhere in [T0 + t, Tready + t]. It
 * is counted as steady when that interval touches the window at all: t in [W0 - Tready, Te - T0] (strict:
 * a start-up GC may be counted, a steady one is never missed). TAIL_S is chosen so that the forwarder's
 * own stop (after Tready + D) lands after Te - T0 in isolate time, and the script says if it did not.
 * A worker restarted mid-run would start after Tready and break that bound: the summary's `exits` must be
 * empty, or the mode fails.
 *
 * Verdict per mode: PASS when the forwarder ran to its --duration, forwarded packets, no worker exited, and
 * no isolate at all scavenged in the steady window (isolates cannot be mapped to threads from the trace, so
 * the main thread's once-a-second progress line is held to the same rule). Mark-compacts are counted and
 * shown, not judged (V8's memory reducer runs one in an idle isolate). An isolate with no GC at all prints no
 * line and is not listed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_OUT_DIR, compileC } from './lib/cc.ts';

const argv = process.argv.slice(2);
const args = new Set(argv);
const quick = args.has('--quick');
const json = args.has('--json');
function option(name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}
/** Traffic seconds per mode (the sender's cap). */
const TRAFFIC_S = quick ? 4 : 10;
/** Packet bound of the sender (it stops at whichever comes first; ~0.5–1 Mpps here, so seconds bind). */
const MAX_PACKETS = 30_000_000;
/** Seconds between Tready and the sender's start. */
const LEAD_S = 1;
/** Seconds the forwarder runs after the traffic; must exceed its start-up (T0 → Tready, ~1–2 s). */
const TAIL_S = 5;
/** Longest wait for the forwarder's ready line. */
const READY_TIMEOUT_MS = 30_000;
const PAYLOAD = 22; // 64-byte frames
const ALL_MODES = ['readv', 'recvmmsg', 'mmap'] as const;
type Mode = (typeof ALL_MODES)[number];
/** UDP flows of the sender (source ports), default 8; `--flows N`, 1..64. */
const FLOWS = Number(option('--flows') ?? 8);
/** Modes to run, default all; `--modes a,b`. */
const MODES = (option('--modes') ?? ALL_MODES.join(',')).split(',') as Mode[];
if (!Number.isInteger(FLOWS) || FLOWS < 1 || FLOWS > 64 || MODES.some((m) => !ALL_MODES.includes(m))) {
  console.error('bench/forward-gc.ts: --flows takes 1..64, --modes a comma-separated subset of readv,recvmmsg,mmap');
  process.exit(2);
}

const machine = `# bench/forward-gc.ts  node ${process.version}  ${cpus().length} cpus  linux ${release()}  ${new Date().toISOString()}${quick ? '  (--quick)' : ''}`;
const pid = process.pid;
const NS_A = `ns-gca-${pid}`;
const NS_F = `ns-gcf-${pid}`;
const NS_B = `ns-gcb-${pid}`;
const A_F = `gfa${pid}`; // in A, towards F
const F_A = `gaf${pid}`; // in F, towards A: the forwarder's --in
const F_B = `gfb${pid}`; // in F, towards B: --out
const B_F = `gbf${pid}`; // in B
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT_DIR = `${BENCH_OUT_DIR}forward-gc/`;

if (process.getuid?.() !== 0) {
  if (json) console.log(JSON.stringify({ bench: 'forward-gc', machine: machine.slice(2), skipped: 'not root' }));
  else {
    console.log(machine);
    console.log('skipped: not root (creating network namespaces and AF_PACKET sockets need CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN)');
  }
  process.exit(0);
}

function sh(cmd: string, ...a: string[]): string {
  return execFileSync(cmd, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function macOf(ns: string, dev: string): string {
  return (JSON.parse(sh('ip', '-n', ns, '-j', 'link', 'show', dev)) as { address: string }[])[0]!.address;
}

function rxPackets(ns: string, dev: string): number {
  return (JSON.parse(sh('ip', '-n', ns, '-j', '-s', 'link', 'show', dev)) as { stats64: { rx: { packets: number } } }[])[0]!.stats64.rx.packets;
}

let sinkMac = '';
let flood = '';

function setUp(): void {
  flood = compileC('udp-flood');
  mkdirSync(OUT_DIR, { recursive: true });
  for (const ns of [NS_A, NS_F, NS_B]) {
    sh('ip', 'netns', 'add', ns);
    sh('ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  }
  sh('ip', 'netns', 'exec', NS_F, 'sysctl', '-qw', 'net.ipv4.ip_forward=0');
  sh('ip', 'link', 'add', A_F, 'netns', NS_A, 'type', 'veth', 'peer', 'name', F_A, 'netns', NS_F);
  sh('ip', 'link', 'add', F_B, 'netns', NS_F, 'type', 'veth', 'peer', 'name', B_F, 'netns', NS_B);
  sh('ip', '-n', NS_A, 'addr', 'add', '198.18.10.1/24', 'dev', A_F);
  sh('ip', '-n', NS_F, 'addr', 'add', '198.18.10.2/24', 'dev', F_A);
  sh('ip', '-n', NS_F, 'addr', 'add', '198.18.11.2/24', 'dev', F_B);
  sh('ip', '-n', NS_B, 'addr', 'add', '198.18.11.1/24', 'dev', B_F);
  sh('ip', '-n', NS_A, 'link', 'set', A_F, 'up');
  sh('ip', '-n', NS_F, 'link', 'set', F_A, 'up');
  sh('ip', '-n', NS_F, 'link', 'set', F_B, 'up');
  sh('ip', '-n', NS_B, 'link', 'set', B_F, 'up');
  sh('ip', '-n', NS_A, 'route', 'add', '198.18.11.0/24', 'via', '198.18.10.2');
  sh('ip', '-n', NS_A, 'neigh', 'add', '198.18.10.2', 'lladdr', macOf(NS_F, F_A), 'dev', A_F);
  sinkMac = macOf(NS_B, B_F);
}

let tornDown = false;
function tearDown(): void {
  if (tornDown) return;
  tornDown = true;
  for (const ns of [NS_A, NS_F, NS_B]) {
    try {
      sh('ip', 'netns', 'del', ns);
    } catch {
      /* never created */
    }
  }
}
let forwarder: ChildProcess | null = null;
process.on('exit', () => {
  if (forwarder !== null && forwarder.exitCode === null && forwarder.signalCode === null) forwarder.kill('SIGKILL');
  tearDown();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

interface GcEvent {
  isolate: string;
  ms: number;
  kind: 'scavenge' | 'mark-compact' | 'other';
  text: string;
}

const GC_LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+(?:\.\d+)?)\s+ms:\s+(.*)$/;

/** Splits the forwarder's stdout into GC trace lines and the summary JSON (the last line starting with `{`). */
function parseOutput(text: string): { events: GcEvent[]; summary: Record<string, unknown> | null } {
  const events: GcEvent[] = [];
  let summary: Record<string, unknown> | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('[') && line.includes('ms: ')) {
      const m = GC_LINE.exec(line);
      if (m === null) continue;
      const what = m[3]!;
      const kind = what.startsWith('Scavenge') ? 'scavenge' : /^Mark-(Compact|sweep)/i.test(what) ? 'mark-compact' : 'other';
      events.push({ isolate: m[1]!, ms: Number(m[2]), kind, text: what.slice(0, 60) });
    } else if (line.startsWith('{')) {
      summary = JSON.parse(line) as Record<string, unknown>;
    }
  }
  return { events, summary };
}

interface IsolateRow {
  isolate: string;
  firstMs: number;
  lastMs: number;
  scavenges: number;
  markCompacts: number;
  other: number;
  steadyScavenges: number;
  steadyMarkCompacts: number;
  /** Isolate times (ms) of the scavenges counted as steady. */
  steadyAt: number[];
}

interface ModeResult {
  mode: Mode;
  verdict: 'PASS' | 'FAIL';
  why: string[];
  /** Seconds on this script's clock from the spawn (T0 = 0). */
  timeline: { ready: number; trafficStart: number; trafficEnd: number; windowStart: number; windowEnd: number; forwarderExit: number };
  /** The steady window in isolate time (ms): a GC at t in [from, to] is counted. */
  isolateWindowMs: { from: number; to: number };
  durationS: number;
  sent: number;
  senderSeconds: number;
  forwarded: number;
  received: number;
  atSink: number;
  forwarderSeconds: number;
  stoppedBy: string;
  exits: unknown[];
  isolates: IsolateRow[];
  trace: string;
}

async function runMode(mode: Mode): Promise<ModeResult> {
  const duration = LEAD_S + TRAFFIC_S + TAIL_S;
  const trace = `${OUT_DIR}${mode}.out`;
  const fd = openSync(trace, 'w');
  const sinkBefore = rxPackets(NS_B, B_F);
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--trace-gc', 'src/main.ts', 'forward', '--netns', NS_F, '--in', F_A, '--out', F_B, '--mode', mode, '--workers', '1', '--json',
      '--duration', String(duration), '--neighbor', `198.18.11.1=${sinkMac}`],
    { cwd: ROOT, stdio: ['ignore', fd, 'pipe'] },
  );
  forwarder = child;
  closeSync(fd);
  let stderr = '';
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal === null ? -1 : 128)));
  });
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`forwarder not ready after ${READY_TIMEOUT_MS} ms:\n${stderr}`)), READY_TIMEOUT_MS);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/^forwarding .*Ctrl-C stops$/m.test(stderr)) {
        clearTimeout(timer);
        resolve(performance.now());
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`forwarder exited (${code}) before it was ready:\n${stderr}`));
    }, reject);
  });
  const tReady = await ready;
  await sleep(LEAD_S * 1000);
  const ts = performance.now();
  const sender = spawn('ip', ['netns', 'exec', NS_A, flood, '198.18.11.1', '9', String(PAYLOAD), String(MAX_PACKETS), String(FLOWS), String(TRAFFIC_S)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let senderOut = '';
  sender.stdout!.on('data', (d: Buffer) => (senderOut += d.toString()));
  const senderCode = await new Promise<number>((resolve, reject) => {
    sender.on('error', reject);
    sender.on('close', (code) => resolve(code ?? -1));
  });
  const te = performance.now();
  if (senderCode !== 0) throw new Error(`udp-flood exited with ${senderCode}`);
  const sent = JSON.parse(senderOut) as { sent: number; seconds: number };
  const code = await exited;
  const tExit = performance.now();
  forwarder = null;
  const atSink = rxPackets(NS_B, B_F) - sinkBefore;

  const { events, summary } = parseOutput(readFileSync(trace, 'utf8'));
  const w0 = ts + (te - ts) / 2;
  const from = w0 - tReady;
  const to = te - t0;
  const byIsolate = new Map<string, IsolateRow>();
  for (const e of events) {
    let row = byIsolate.get(e.isolate);
    if (row === undefined) {
      row = { isolate: e.isolate, firstMs: e.ms, lastMs: e.ms, scavenges: 0, markCompacts: 0, other: 0, steadyScavenges: 0, steadyMarkCompacts: 0, steadyAt: [] };
      byIsolate.set(e.isolate, row);
    }
    row.lastMs = e.ms;
    const steady = e.ms >= from && e.ms <= to;
    if (e.kind === 'scavenge') {
      row.scavenges++;
      if (steady) {
        row.steadyScavenges++;
        row.steadyAt.push(e.ms);
      }
    } else if (e.kind === 'mark-compact') {
      row.markCompacts++;
      if (steady) row.steadyMarkCompacts++;
    } else {
      row.other++;
    }
  }
  const isolates = [...byIsolate.values()];

  const why: string[] = [];
  if (code !== 0) why.push(`forwarder exited with ${code}: ${stderr.split('\n').slice(-3).join(' | ')}`);
  if (summary === null) why.push('no summary JSON on the forwarder\'s stdout');
  const totals = (summary?.totals ?? {}) as { rxPackets?: number; txPackets?: number };
  const workers = (summary?.workers ?? []) as { interface: string; rxPackets: number; txPackets: number }[];
  // Forwarded A -> B: what the --in link's worker received and sent out on --out (the summary counts tx per sending worker).
  const inWorkers = workers.filter((w) => w.interface === F_A);
  const forwarded = inWorkers.reduce((n, w) => n + w.txPackets, 0);
  const received = inWorkers.reduce((n, w) => n + w.rxPackets, 0);
  const stoppedBy = String(summary?.stoppedBy ?? '');
  const exits = (summary?.exits ?? []) as unknown[];
  if (summary !== null && stoppedBy !== 'duration') why.push(`stopped by ${stoppedBy}, not --duration`);
  if (exits.length > 0) why.push(`${exits.length} worker exit(s): ${JSON.stringify(exits)}`);
  if (summary !== null && forwarded === 0) why.push(`nothing forwarded (totals rx ${totals.rxPackets ?? 0}, tx ${totals.txPackets ?? 0})`);
  for (const r of isolates) {
    if (r.steadyScavenges > 0) why.push(`isolate ${r.isolate}: ${r.steadyScavenges} scavenge(s) in the steady window, at ${r.steadyAt.map((t) => `${t} ms`).join(', ')}`);
  }
  // The forwarder's stop (≥ Tready + D on this clock) must map past the window's end in isolate time.
  if (duration * 1000 <= to) why.push(`window overlaps the forwarder's shutdown (D ${duration} s ≤ Te - T0 ${(to / 1000).toFixed(1)} s): raise TAIL_S`);
  const s = (t: number): number => Math.round(t - t0) / 1000;
  return {
    mode,
    verdict: why.length === 0 ? 'PASS' : 'FAIL',
    why,
    timeline: { ready: s(tReady), trafficStart: s(ts), trafficEnd: s(te), windowStart: s(w0), windowEnd: s(te), forwarderExit: s(tExit) },
    isolateWindowMs: { from: Math.round(from), to: Math.round(to) },
    durationS: duration,
    sent: sent.sent,
    senderSeconds: sent.seconds,
    forwarded,
    received,
    atSink,
    forwarderSeconds: Number(summary?.seconds ?? 0),
    stoppedBy,
    exits,
    isolates,
    trace,
  };
}

function print(r: ModeResult): void {
  const t = r.timeline;
  const kpps = (n: number, sec: number): string => (sec > 0 ? `${(n / sec / 1000).toFixed(0)} kpps` : '-');
  console.log(`\n${r.mode}: ${r.verdict}`);
  console.log(
    `  timeline (s since spawn): ready ${t.ready.toFixed(2)}, traffic ${t.trafficStart.toFixed(2)}–${t.trafficEnd.toFixed(2)}, ` +
      `steady window ${t.windowStart.toFixed(2)}–${t.windowEnd.toFixed(2)}, forwarder exit ${t.forwarderExit.toFixed(2)} (--duration ${r.durationS})`,
  );
  console.log(`  steady window in isolate time: ${r.isolateWindowMs.from}–${r.isolateWindowMs.to} ms`);
  console.log(
    `  sent ${r.sent} (${kpps(r.sent, r.senderSeconds)}), forwarder received ${r.received}, forwarded ${r.forwarded} ` +
      `(${kpps(r.forwarded, r.senderSeconds)} over the traffic), at the sink ${r.atSink}; stopped by ${r.stoppedBy || '-'} after ${r.forwarderSeconds.toFixed(1)} s`,
  );
  console.log(`  ${'isolate'.padEnd(18)}${'GC lines'.padStart(10)}${'first ms'.padStart(10)}${'last ms'.padStart(10)}${'scavenges'.padStart(11)}${'mark-compacts'.padStart(15)}${'steady scav.'.padStart(14)}${'steady m-c'.padStart(12)}`);
  for (const i of r.isolates) {
    console.log(
      `  ${i.isolate.padEnd(18)}${String(i.scavenges + i.markCompacts + i.other).padStart(10)}${String(i.firstMs).padStart(10)}${String(i.lastMs).padStart(10)}` +
        `${String(i.scavenges).padStart(11)}${String(i.markCompacts).padStart(15)}${String(i.steadyScavenges).padStart(14)}${String(i.steadyMarkCompacts).padStart(12)}`,
    );
  }
  for (const w of r.why) console.log(`  FAIL: ${w}`);
  console.log(`  trace: ${r.trace}`);
}

const started = performance.now();
const results: ModeResult[] = [];
let failed = false;
try {
  setUp();
  if (!json) {
    console.log(machine);
    console.log(
      `netshard forward, 1 worker per link, under --trace-gc; ${TRAFFIC_S} s of 64-byte UDP (udp-flood, ${FLOWS} flows, at most ${MAX_PACKETS} packets) ` +
        `${LEAD_S} s after ready; --duration ${LEAD_S + TRAFFIC_S + TAIL_S}; steady window = the second half of the traffic`,
    );
  }
  for (const mode of MODES) {
    const r = await runMode(mode);
    results.push(r);
    if (r.verdict === 'FAIL') failed = true;
    if (!json) print(r);
  }
  const seconds = (performance.now() - started) / 1000;
  if (json) {
    console.log(JSON.stringify({ bench: 'forward-gc', machine: machine.slice(2), quick, trafficSeconds: TRAFFIC_S, leadSeconds: LEAD_S, tailSeconds: TAIL_S, seconds, results }));
  } else {
    console.log(`\n${results.map((r) => `${r.mode}: ${r.verdict}`).join(', ')}`);
    console.log(`# ${seconds.toFixed(1)} s`);
  }
} catch (err) {
  console.error(`bench/forward-gc.ts: ${(err as Error).message}`);
  failed = true;
} finally {
  if (forwarder !== null) {
    const f: ChildProcess = forwarder;
    if (f.exitCode === null && f.signalCode === null) f.kill('SIGKILL');
  }
  tearDown();
}
process.exitCode = failed ? 1 : 0;
