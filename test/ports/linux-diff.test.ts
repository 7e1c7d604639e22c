/**
 * Differential test: the PortManager (gVisor's port-reservation rules) against the Linux kernel's own
 * bind()/listen(). The same sequences of binds, listens and closes run against (a) real sockets in a test
 * network namespace, through `linux-binder.py`, and (b) a PortManager, step by step. Every disagreement
 * must fall in one of the known classes below (each is a heading in docs/PORTS.md); any other fails the
 * test with its sequence printed. Known-class disagreements are counted and printed.
 *
 * Root only (network namespaces). Run: `npx tsx test/ports/linux-diff.test.ts` (as root).
 * Knobs: PORTS_DIFF_SEED (default 0x5eed), PORTS_DIFF_SEQUENCES (random sequences, default 2000),
 * PORTS_DIFF_MAX_STEPS (longest random sequence, default 4), PORTS_DIFF_VERBOSE=1 (also print every fixed
 * sequence with both outcomes, and every known-class disagreement).
 * One file past 400 lines on purpose: the step language, both drivers and the known-class table are read together.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_FIRST_EPHEMERAL, DEFAULT_LAST_EPHEMERAL, Flags, PortManager, type Reservation } from '../../src/ports/index.ts';
import {
  IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER, type NetworkProtocolNumber,
} from '../../src/tcpip/protocols.ts';
import { addNetns, deleteNetns, inNetns, ip, netnsUnavailableReason } from '../helpers/netns.ts';
import { rng as mulberry32 } from './stress.ts';

const BINDER = fileURLToPath(new URL('./linux-binder.py', import.meta.url));
const DOC = fileURLToPath(new URL('../../docs/PORTS.md', import.meta.url));

/** The one port every sequence binds. The ephemeral range on both sides is exactly this port, so a bind to
 *  port 0 is deterministic: it gets PORT or fails, and it meets the explicit binds of the same sequence. */
const PORT = 40000;
/** What the PortManager throws when no ephemeral port is left (gVisor's ErrNoPortAvailable). */
const NO_PORT_AVAILABLE = 'ERR_NETSHARD_NO_PORT_AVAILABLE';
/** An unprivileged owner for the SO_REUSEPORT same-owner rule (`nobody`). */
const NOBODY = 65534;

// ---------------------------------------------------------------------------------------------------------
// The step language, shared by both sides.

type Transport = 'udp' | 'tcp';
/** v4: AF_INET. v6only: AF_INET6 with IPV6_V6ONLY=1. dual: AF_INET6 with IPV6_V6ONLY=0 (dual-stack). */
type Family = 'v4' | 'v6only' | 'dual';
/** any: the wildcard. dev1/dev2: the family's address on device 1/2. mapped1 / mappedAny: ::ffff:198.18.0.1
 *  and ::ffff:0.0.0.0 (dual-stack sockets only). */
type AddressKey = 'any' | 'dev1' | 'dev2' | 'mapped1' | 'mappedAny';
type Device = 0 | 1 | 2;

interface BindStep {
  op: 'bind';
  family: Family;
  address: AddressKey;
  reuseAddr: boolean;
  reusePort: boolean;
  /** SO_BINDTODEVICE: 0 = none, 1/2 = the device that holds dev1/dev2. */
  device: Device;
  /** Bind port 0 instead of PORT. */
  ephemeral: boolean;
  /** Effective uid the socket is created with (its owner). */
  uid: number;
}
/** `target` is a step number (1-based) of a bind in the same sequence. */
interface ListenStep { op: 'listen'; target: number }
interface CloseStep { op: 'close'; target: number }
type Step = BindStep | ListenStep | CloseStep;
interface Sequence { name: string; transport: Transport; steps: readonly Step[] }

const V4: Record<AddressKey, string> = { any: '0.0.0.0', dev1: '198.18.0.1', dev2: '198.18.1.1', mapped1: '', mappedAny: '' };
const V6: Record<AddressKey, string> = {
  any: '::', dev1: '2001:2::1', dev2: '2001:2:0:1::1', mapped1: '::ffff:198.18.0.1', mappedAny: '::ffff:0.0.0.0',
};

/** Builds a bind step; everything not given is off/none/0. */
function bind(family: Family, address: AddressKey, more: Partial<Omit<BindStep, 'op' | 'family' | 'address'>> = {}): BindStep {
  return { op: 'bind', family, address, reuseAddr: false, reusePort: false, device: 0, ephemeral: false, uid: 0, ...more };
}
const listen = (target: number): ListenStep => ({ op: 'listen', target });
const close = (target: number): CloseStep => ({ op: 'close', target });
const RA = { reuseAddr: true } as const;
const RP = { reusePort: true } as const;
const BOTH = { reuseAddr: true, reusePort: true } as const;

function socketAddress(b: BindStep): string {
  return (b.family === 'v4' ? V4 : V6)[b.address];
}

/** Formats a step as one line, e.g. `#2 bind dual [::]:P SO_REUSEADDR dev2 uid=65534`. */
function formatStep(step: Step, index: number): string {
  if (step.op !== 'bind') return `#${index + 1} ${step.op} #${step.target}`;
  const parts = [`#${index + 1} bind ${step.family} [${socketAddress(step)}]:${step.ephemeral ? '0' : 'P'}`];
  if (step.reuseAddr) parts.push('SO_REUSEADDR');
  if (step.reusePort) parts.push('SO_REUSEPORT');
  if (step.device !== 0) parts.push(`dev${step.device}`);
  if (step.uid !== 0) parts.push(`uid=${step.uid}`);
  return parts.join(' ');
}

function formatSequence(seq: Sequence, outcomes?: readonly { linux: string; pm: string }[]): string {
  const lines = [`${seq.name} (${seq.transport}, P=${PORT})`];
  seq.steps.forEach((step, i) => {
    const o = outcomes?.[i];
    lines.push(`  ${formatStep(step, i).padEnd(58)}${o ? ` linux=${o.linux} portmanager=${o.pm}` : ''}`);
  });
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Linux side: linux-binder.py inside the test namespace, driven one step at a time.

interface BinderResult { id?: number | null; ok: boolean; port?: number; errno?: string; where?: string; ifindex?: Record<string, number>; range?: number[]; closed?: number | boolean }

/** Drives linux-binder.py interactively: one JSON line of steps out, one JSON line per step back. */
class LinuxBinder {
  private readonly child: ChildProcess;
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly lines: string[] = [];
  private exited = '';

  constructor(ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, 'python3', BINDER], { stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = createInterface({ input: this.child.stdout! });
    rl.on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w(line);
      else this.lines.push(line);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `linux-binder.py exited (code ${code}, signal ${signal})`;
      for (const w of this.waiting.splice(0)) w('');
    });
  }

  private nextLine(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Runs steps in order and returns one result per step. */
  async run(steps: readonly object[]): Promise<BinderResult[]> {
    this.child.stdin!.write(JSON.stringify(steps) + '\n');
    const out: BinderResult[] = [];
    for (let i = 0; i < steps.length; i++) {
      const line = await this.nextLine();
      if (line === '') throw new Error(this.exited || 'linux-binder.py returned an empty line');
      out.push(JSON.parse(line) as BinderResult);
    }
    return out;
  }

  async one(step: object): Promise<BinderResult> {
    const [r] = await this.run([step]);
    return r!;
  }

  /** Ends the binder (EOF closes every socket) and waits for it. */
  stop(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin!.end();
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// The test network namespace: one veth pair, both ends inside it, so there are two devices.

interface Net {
  ns: string;
  devices: [string, string];
  /** NIC ids (the kernel's ifindex) of the two devices. */
  nic: [number, number];
  /** The namespace's ephemeral range before the test narrowed it: the kernel's default. */
  defaultRange: string;
}

function setUpNamespace(): Net {
  const pid = process.pid;
  const ns = `ns-ports-${pid}`;
  const devices: [string, string] = [`pa-${pid}`, `pb-${pid}`]; // <= 10 chars
  addNetns(ns);
  ip('-n', ns, 'link', 'add', devices[0], 'type', 'veth', 'peer', 'name', devices[1]);
  ip('-n', ns, 'addr', 'add', `${V4.dev1}/24`, 'dev', devices[0]);
  ip('-n', ns, 'addr', 'add', `${V4.dev2}/24`, 'dev', devices[1]);
  ip('-n', ns, 'addr', 'add', `${V6.dev1}/64`, 'dev', devices[0], 'nodad');
  ip('-n', ns, 'addr', 'add', `${V6.dev2}/64`, 'dev', devices[1], 'nodad');
  ip('-n', ns, 'link', 'set', devices[0], 'up');
  ip('-n', ns, 'link', 'set', devices[1], 'up');
  // The kernel's ephemeral range in this namespace only: exactly PORT (ip_local_port_range is per netns).
  const defaultRange = inNetns(ns, 'cat', '/proc/sys/net/ipv4/ip_local_port_range').trim().split(/\s+/).join('..');
  inNetns(ns, 'sh', '-c', `echo "${PORT} ${PORT}" > /proc/sys/net/ipv4/ip_local_port_range`);
  return { ns, devices, nic: [0, 0], defaultRange };
}

// ---------------------------------------------------------------------------------------------------------
// PortManager side: the mapping from socket options to a Reservation.

/** Maps a bind to the Reservation gVisor's endpoint layer would make: UDP SO_REUSEADDR → MostRecent, TCP
 *  SO_REUSEADDR → TupleOnly, SO_REUSEPORT → LoadBalanced, SO_BINDTODEVICE → NIC id, a dual-stack wildcard
 *  → networks [IPv6, IPv4], a v4-mapped address on a dual-stack socket → IPv4 (gVisor's checkV4Mapped). */
function reservationOf(transport: Transport, b: BindStep, net: Net, port: number): Reservation {
  let networks: NetworkProtocolNumber[];
  let address: string;
  if (b.family === 'v4') {
    networks = [IPV4_PROTOCOL_NUMBER];
    address = V4[b.address];
  } else if (b.family === 'dual' && b.address === 'any') {
    networks = [IPV6_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER];
    address = V6.any;
  } else if (b.family === 'dual' && (b.address === 'mapped1' || b.address === 'mappedAny')) {
    networks = [IPV4_PROTOCOL_NUMBER];
    address = b.address === 'mapped1' ? V4.dev1 : V4.any;
  } else {
    networks = [IPV6_PROTOCOL_NUMBER];
    address = V6[b.address];
  }
  let flags = 0;
  if (b.reuseAddr) flags |= transport === 'udp' ? Flags.MostRecent : Flags.TupleOnly;
  if (b.reusePort) flags |= Flags.LoadBalanced;
  const res: Reservation = {
    networks,
    transport: transport === 'tcp' ? TCP_PROTOCOL_NUMBER : UDP_PROTOCOL_NUMBER,
    address,
    port,
    flags,
  };
  if (b.device !== 0) return { ...res, bindToDevice: net.nic[b.device - 1] };
  return res;
}

/** Creates the PortManager under test: default semantics, only the ephemeral range narrowed to PORT. */
function createPortManager(): PortManager {
  return PortManager.create({ portRange: [PORT, PORT] });
}

function outcomeOfError(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
  throw e;
}

// ---------------------------------------------------------------------------------------------------------
// Running one sequence on both sides.

/** A socket bound on both sides (after the step that bound it). */
interface Live { id: number; bind: BindStep; listening: boolean }

/** One step where the two sides disagreed, with what a class predicate may look at. */
interface Disagreement {
  seq: Sequence;
  index: number;
  step: Step;
  /** The bind a listen or close targets, or the step itself when it is a bind. */
  subject: BindStep;
  linux: string;
  pm: string;
  /** Sockets bound on both sides just before this step (not the subject itself). */
  live: readonly Live[];
  /** Every bind Linux accepted earlier in the sequence, closed since or not (Linux's per-port caches
   *  remember sockets that are gone). */
  history: readonly BindStep[];
}

interface SequenceRun { outcomes: { linux: string; pm: string }[]; disagreements: Disagreement[] }

/** Runs `seq` on both sides from an empty state and leaves both empty again (checked: the PortManager is
 *  reused across sequences, so every release must be exact). After a disagreement the two states are brought
 *  back together (the side that bound unbinds), so later steps still compare. */
async function runSequence(seq: Sequence, linux: LinuxBinder, pm: PortManager, net: Net): Promise<SequenceRun> {
  const live = new Map<number, Live>();
  const held = new Map<number, Reservation>();
  const outcomes: { linux: string; pm: string }[] = [];
  const disagreements: Disagreement[] = [];
  const history: BindStep[] = [];
  for (const [index, step] of seq.steps.entries()) {
    const id = index + 1;
    const before = [...live.values()];
    const historyBefore = [...history];
    let linuxOut: string;
    let pmOut: string;
    let subject: BindStep;
    if (step.op === 'bind') {
      subject = step;
      const r = await linux.one({
        op: 'bind', id, family: step.family === 'v4' ? 'inet' : 'inet6', v6only: step.family === 'v6only',
        type: seq.transport === 'udp' ? 'dgram' : 'stream', reuseaddr: step.reuseAddr, reuseport: step.reusePort,
        device: step.device === 0 ? '' : net.devices[step.device - 1], address: socketAddress(step),
        port: step.ephemeral ? 0 : PORT, uid: step.uid,
      });
      linuxOut = r.ok ? (r.port === PORT ? 'ok' : `ok:${r.port}`) : `${r.errno}`;
      if (r.ok) history.push(step);
      const res = reservationOf(seq.transport, step, net, step.ephemeral ? 0 : PORT);
      try {
        const port = pm.reservePort(res);
        pmOut = port === PORT ? 'ok' : `ok:${port}`;
        held.set(id, { ...res, port });
      } catch (e) {
        pmOut = outcomeOfError(e);
      }
      if (r.ok && pmOut.startsWith('ok')) live.set(id, { id, bind: step, listening: false });
      else if (r.ok) await linux.one({ op: 'close', target: id }); // resync: only Linux bound it
      else if (held.has(id)) { pm.releasePort(held.get(id)!); held.delete(id); } // resync: only the PortManager did
    } else {
      const target = live.get(step.target);
      const targetStep = seq.steps[step.target - 1];
      if (targetStep?.op !== 'bind') throw new Error(`${seq.name}: step ${id} targets step ${step.target}, not a bind`);
      subject = targetStep;
      if (!target) {
        outcomes.push({ linux: 'n/a', pm: 'n/a' }); // its bind failed or it is closed: nothing to do on either side
        continue;
      }
      if (step.op === 'listen') {
        const r = await linux.one({ op: 'listen', id, target: step.target });
        linuxOut = r.ok ? 'ok' : `${r.errno}`;
        pmOut = 'ok'; // the PortManager has no listen: gVisor checks listeners in the demuxer (see docs/PORTS.md)
        if (r.ok) target.listening = true;
      } else {
        const r = await linux.one({ op: 'close', id, target: step.target });
        linuxOut = r.ok && r.closed === true ? 'ok' : `${r.errno ?? 'not-open'}`;
        pm.releasePort(held.get(step.target)!);
        held.delete(step.target);
        pmOut = 'ok';
        live.delete(step.target);
      }
    }
    outcomes.push({ linux: linuxOut, pm: pmOut });
    if (linuxOut !== pmOut) {
      const self = step.op === 'bind' ? id : step.target;
      disagreements.push({
        seq, index, step, subject, linux: linuxOut, pm: pmOut, live: before.filter((l) => l.id !== self), history: historyBefore,
      });
    }
  }
  const [reset] = await linux.run([{ op: 'reset' }]);
  assert.is(reset?.closed, live.size, `${seq.name}: Linux held ${reset?.closed} sockets at the end, both sides agreed on ${live.size}`);
  for (const res of held.values()) pm.releasePort(res);
  assert.is(pm.entryCount(), 0, `${seq.name}: the PortManager kept rows after every release`);
  // Every release reached the table: the port is free again for the widest, flagless reservation.
  for (const transport of ['udp', 'tcp'] as const) {
    const widest = reservationOf(transport, bind('dual', 'any'), net, PORT);
    assert.ok(pm.isPortAvailable(widest), `${seq.name}: ${transport} port ${PORT} still reserved after every release`);
  }
  return { outcomes, disagreements };
}

// ---------------------------------------------------------------------------------------------------------
// Fixed sequences, named after what they probe.

const FIXED: readonly Sequence[] = [
  // UDP, one family
  { name: 'udp: same address twice, no options', transport: 'udp', steps: [bind('v4', 'dev1'), bind('v4', 'dev1')] },
  { name: 'udp: SO_REUSEADDR on both', transport: 'udp', steps: [bind('v4', 'dev1', RA), bind('v4', 'dev1', RA)] },
  { name: 'udp: SO_REUSEADDR on the second only', transport: 'udp', steps: [bind('v4', 'dev1'), bind('v4', 'dev1', RA)] },
  { name: 'udp: SO_REUSEPORT on both', transport: 'udp', steps: [bind('v4', 'any', RP), bind('v4', 'any', RP)] },
  { name: 'udp: SO_REUSEPORT on both, different owners', transport: 'udp', steps: [bind('v4', 'any', RP), bind('v4', 'any', { ...RP, uid: NOBODY })] },
  { name: 'udp: both options, then SO_REUSEADDR only, then SO_REUSEPORT only', transport: 'udp', steps: [bind('v4', 'dev1', BOTH), bind('v4', 'dev1', RA), bind('v4', 'dev1', RP)] },
  { name: 'udp: both options, then SO_REUSEPORT only, then SO_REUSEADDR only', transport: 'udp', steps: [bind('v4', 'dev1', BOTH), bind('v4', 'dev1', RP), bind('v4', 'dev1', RA)] },
  { name: 'udp: wildcard, then specific', transport: 'udp', steps: [bind('v4', 'any'), bind('v4', 'dev1')] },
  { name: 'udp: specific, then wildcard', transport: 'udp', steps: [bind('v4', 'dev1'), bind('v4', 'any')] },
  { name: 'udp: two specific addresses', transport: 'udp', steps: [bind('v4', 'dev1'), bind('v4', 'dev2'), bind('v4', 'any', RA)] },
  { name: 'udp: close frees the port', transport: 'udp', steps: [bind('v4', 'any'), close(1), bind('v4', 'any')] },
  // UDP, families
  { name: 'udp: dual-stack wildcard, then IPv4 wildcard', transport: 'udp', steps: [bind('dual', 'any'), bind('v4', 'any')] },
  { name: 'udp: IPv4 wildcard, then dual-stack wildcard', transport: 'udp', steps: [bind('v4', 'any'), bind('dual', 'any')] },
  { name: 'udp: IPv6-only wildcard and IPv4 wildcard coexist', transport: 'udp', steps: [bind('v6only', 'any'), bind('v4', 'any'), bind('dual', 'any')] },
  { name: 'udp: dual-stack wildcard, then IPv6-only wildcard', transport: 'udp', steps: [bind('dual', 'any'), bind('v6only', 'any')] },
  { name: 'udp: v4-mapped address, then IPv4 same address', transport: 'udp', steps: [bind('dual', 'mapped1'), bind('v4', 'dev1')] },
  { name: 'udp: v4-mapped wildcard, then IPv6-only wildcard', transport: 'udp', steps: [bind('dual', 'mappedAny'), bind('v6only', 'any'), bind('v4', 'dev2')] },
  { name: 'udp: dual-stack specific IPv6, then IPv4 wildcard', transport: 'udp', steps: [bind('dual', 'dev1'), bind('v4', 'any')] },
  { name: 'udp: IPv4 wildcard, then dual-stack specific IPv6', transport: 'udp', steps: [bind('v4', 'any'), bind('dual', 'dev1')] },
  // UDP, devices
  { name: 'udp: devices 1 and 2 coexist, then no device', transport: 'udp', steps: [bind('v4', 'any', { device: 1 }), bind('v4', 'any', { device: 2 }), bind('v4', 'any')] },
  { name: 'udp: no device, then a device', transport: 'udp', steps: [bind('v4', 'any'), bind('v4', 'any', { device: 1 })] },
  { name: 'udp: SO_REUSEPORT on dev1, none on dev2, then SO_REUSEPORT on no device', transport: 'udp', steps: [bind('v4', 'dev1', { ...RP, device: 1 }), bind('v4', 'dev1', { device: 2 }), bind('v4', 'dev1', RP)] },
  // UDP, ephemeral
  { name: 'udp: ephemeral, then explicit', transport: 'udp', steps: [bind('v4', 'any', { ephemeral: true }), bind('v4', 'any')] },
  { name: 'udp: explicit SO_REUSEADDR, then ephemeral SO_REUSEADDR', transport: 'udp', steps: [bind('v4', 'any', RA), bind('v4', 'any', { ...RA, ephemeral: true })] },
  { name: 'udp: explicit SO_REUSEPORT, then ephemeral SO_REUSEPORT', transport: 'udp', steps: [bind('v4', 'any', RP), bind('v4', 'any', { ...RP, ephemeral: true })] },
  // TCP
  { name: 'tcp: same address twice, no options', transport: 'tcp', steps: [bind('v4', 'dev1'), bind('v4', 'dev1')] },
  { name: 'tcp: SO_REUSEADDR on both, bound only', transport: 'tcp', steps: [bind('v4', 'dev1', RA), bind('v4', 'dev1', RA)] },
  { name: 'tcp: SO_REUSEADDR on both, first listening', transport: 'tcp', steps: [bind('v4', 'dev1', RA), listen(1), bind('v4', 'dev1', RA)] },
  { name: 'tcp: SO_REUSEADDR on both, then both listen', transport: 'tcp', steps: [bind('v4', 'any', RA), bind('v4', 'any', RA), listen(1), listen(2)] },
  { name: 'tcp: SO_REUSEPORT on both, both listen', transport: 'tcp', steps: [bind('v4', 'any', RP), bind('v4', 'any', RP), listen(1), listen(2)] },
  { name: 'tcp: SO_REUSEPORT on both, different owners', transport: 'tcp', steps: [bind('v4', 'any', RP), bind('v4', 'any', { ...RP, uid: NOBODY })] },
  { name: 'tcp: both options, then SO_REUSEADDR only, then SO_REUSEPORT only', transport: 'tcp', steps: [bind('v4', 'dev1', BOTH), bind('v4', 'dev1', RA), bind('v4', 'dev1', RP)] },
  { name: 'tcp: explicit SO_REUSEPORT, then ephemeral SO_REUSEPORT', transport: 'tcp', steps: [bind('v4', 'any', RP), bind('v4', 'any', { ...RP, ephemeral: true })] },
  { name: 'tcp: explicit SO_REUSEADDR, then ephemeral SO_REUSEADDR', transport: 'tcp', steps: [bind('v4', 'any', RA), bind('v4', 'any', { ...RA, ephemeral: true })] },
  { name: 'tcp: dual-stack wildcard, then IPv4 specific', transport: 'tcp', steps: [bind('dual', 'any'), bind('v4', 'dev1')] },
  { name: 'tcp: IPv6-only wildcard and IPv4 wildcard coexist', transport: 'tcp', steps: [bind('v6only', 'any'), bind('v4', 'any'), bind('dual', 'any')] },
  { name: 'tcp: dual-stack specific IPv6, then IPv4 wildcard', transport: 'tcp', steps: [bind('dual', 'dev1'), bind('v4', 'any')] },
  { name: 'tcp: devices 1 and 2 coexist, then no device', transport: 'tcp', steps: [bind('v6only', 'any', { device: 1 }), bind('v6only', 'any', { device: 2 }), bind('v6only', 'any')] },
  { name: 'tcp: the SO_REUSEPORT cache outlives the socket that set it', transport: 'tcp', steps: [bind('v4', 'any', { device: 2 }), bind('v4', 'any', { ...RP, device: 1 }), close(2), bind('v4', 'dev2', RP)] },
  { name: 'tcp: close of a listener frees the port', transport: 'tcp', steps: [bind('v4', 'any'), listen(1), close(1), bind('v4', 'any'), listen(4)] },
];

// ---------------------------------------------------------------------------------------------------------
// Seeded random sequences over a small domain (mulberry32, from stress.ts).

function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

const ADDRESSES: Record<Family, readonly AddressKey[]> = {
  v4: ['any', 'dev1', 'dev2'],
  v6only: ['any', 'dev1', 'dev2'],
  dual: ['any', 'dev1', 'dev2', 'mapped1', 'mappedAny'],
};

function randomBind(rng: () => number): BindStep {
  const family = pick(rng, ['v4', 'v6only', 'dual'] as const);
  return bind(family, pick(rng, ADDRESSES[family]), {
    reuseAddr: rng() < 0.5,
    reusePort: rng() < 0.6,
    device: pick(rng, [0, 0, 1, 2] as const),
    ephemeral: rng() < 0.12,
    uid: rng() < 0.1 ? NOBODY : 0,
  });
}

/** Generates `count` sequences of 2..maxSteps steps: binds, and listens (TCP) and closes of earlier binds. */
function randomSequences(seed: number, count: number, maxSteps: number): Sequence[] {
  const rng = mulberry32(seed);
  const out: Sequence[] = [];
  for (let n = 0; n < count; n++) {
    const transport: Transport = rng() < 0.5 ? 'udp' : 'tcp';
    const length = 2 + Math.floor(rng() * (maxSteps - 1));
    const steps: Step[] = [];
    for (let i = 0; i < length; i++) {
      const binds = steps.flatMap((s, j) => (s.op === 'bind' ? [j + 1] : []));
      const r = rng();
      if (i > 0 && r < 0.12) steps.push(close(pick(rng, binds)));
      else if (i > 0 && transport === 'tcp' && r < 0.4) steps.push(listen(pick(rng, binds)));
      else steps.push(randomBind(rng));
    }
    out.push({ name: `random #${n} (seed ${seed})`, transport, steps });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Known disagreement classes. Each name is a `###` heading in docs/PORTS.md, which explains it.

interface KnownClass {
  /** A `###` heading in docs/PORTS.md. */
  name: string;
  /** Whether a disagreement belongs to this class. */
  matches(d: Disagreement): boolean;
  /** A minimal sequence showing the class, with each side's outcome per step: asserted on every run. */
  example: Sequence;
  linux: readonly string[];
  pm: readonly string[];
}

/** The (network, address) pairs a bind reserves, as the PortManager sees them ('' = wildcard). */
function reservedPairs(b: BindStep): { v6: boolean; address: string }[] {
  if (b.family === 'v4') return [{ v6: false, address: b.address === 'any' ? '' : V4[b.address] }];
  if (b.family === 'dual' && b.address === 'any') return [{ v6: true, address: '' }, { v6: false, address: '' }];
  if (b.address === 'mapped1') return [{ v6: false, address: V4.dev1 }];
  if (b.address === 'mappedAny') return [{ v6: false, address: '' }];
  return [{ v6: true, address: b.address === 'any' ? '' : V6[b.address] }];
}

/** Whether two binds compete for the same port in the PortManager's view: a network in common with equal or
 *  wildcard addresses, and devices that are equal or unset. */
function interacts(a: BindStep, b: BindStep): boolean {
  if (a.device !== 0 && b.device !== 0 && a.device !== b.device) return false;
  return reservedPairs(a).some((x) => reservedPairs(b).some((y) => x.v6 === y.v6 && (x.address === '' || y.address === '' || x.address === y.address)));
}

/** Whether Linux's own pairwise rule makes `b` (live, maybe listening) refuse `a`: they compete, and neither
 *  SO_REUSEADDR on both (TCP: `b` not listening) nor SO_REUSEPORT on both with one owner lets them share
 *  (inet_bind_conflict, udp_lib_lport_inuse). */
function linuxPairConflict(transport: Transport, a: BindStep, b: Live): boolean {
  if (!interacts(a, b.bind)) return false;
  if (a.reuseAddr && b.bind.reuseAddr && !(transport === 'tcp' && b.listening)) return false;
  return !(a.reusePort && b.bind.reusePort && a.uid === b.bind.uid);
}

/** The PortManager flags of a bind (UDP SO_REUSEADDR → MostRecent, TCP → TupleOnly, SO_REUSEPORT → LoadBalanced). */
function flagsOf(transport: Transport, b: BindStep): number {
  return (b.reuseAddr ? (transport === 'udp' ? Flags.MostRecent : Flags.TupleOnly) : 0) | (b.reusePort ? Flags.LoadBalanced : 0);
}

/** Whether gVisor's "one flag shared by every holder" rule refuses `a` while no single holder does: for some
 *  (network, address) entry, the flags of the live binds that compete with `a` there, ANDed with `a`'s, are
 *  empty, though each of them alone shares a flag with `a`. */
function onlyTheIntersectionRefuses(transport: Transport, a: BindStep, live: readonly Live[]): boolean {
  const mine = flagsOf(transport, a);
  const competing = live.filter((l) => interacts(l.bind, a));
  if (competing.some((l) => (flagsOf(transport, l.bind) & mine) === 0)) return false;
  for (const entry of new Set(competing.flatMap((l) => reservedPairs(l.bind).map((x) => `${x.v6} ${x.address}`)))) {
    let shared = mine;
    for (const l of competing) if (reservedPairs(l.bind).some((x) => `${x.v6} ${x.address}` === entry)) shared &= flagsOf(transport, l.bind);
    if (shared === 0) return true;
  }
  return false;
}

/** Whether `m` (bound earlier, maybe closed since) may have left Linux's per-port SO_REUSEPORT cache
 *  (tb->fastreuseport, fastuid, fast_rcv_saddr) in a state that `a` matches: same owner, and m's address equal
 *  to a's or a wildcard covering it. */
function reusePortCacheCovers(m: BindStep, a: BindStep): boolean {
  if (!m.reusePort || !a.reusePort || m.uid !== a.uid) return false;
  return reservedPairs(m).some((x) => reservedPairs(a).some((y) => x.v6 === y.v6 && (x.address === '' || x.address === y.address)));
}

const isBind = (d: Disagreement): d is Disagreement & { step: BindStep } => d.step.op === 'bind';

const KNOWN: readonly KnownClass[] = [
  {
    name: 'SO_REUSEPORT needs the same owner',
    matches: (d) => isBind(d) && d.linux === 'EADDRINUSE' && d.pm === 'ok' && d.step.reusePort &&
      d.live.some((l) => interacts(l.bind, d.subject) && l.bind.reusePort && l.bind.uid !== d.subject.uid),
    example: { name: 'example: SO_REUSEPORT, two owners', transport: 'udp', steps: [bind('v4', 'any', RP), bind('v4', 'any', { ...RP, uid: NOBODY })] },
    linux: ['ok', 'EADDRINUSE'],
    pm: ['ok', 'ok'],
  },
  {
    name: 'TCP SO_REUSEADDR does not share with a listener',
    matches: (d) => isBind(d) && d.seq.transport === 'tcp' && d.linux === 'EADDRINUSE' && d.pm === 'ok' && d.step.reuseAddr &&
      d.live.some((l) => interacts(l.bind, d.subject) && l.listening && l.bind.reuseAddr),
    example: { name: 'example: TCP SO_REUSEADDR next to a listener', transport: 'tcp', steps: [bind('v4', 'dev1', RA), listen(1), bind('v4', 'dev1', RA)] },
    linux: ['ok', 'ok', 'EADDRINUSE'],
    pm: ['ok', 'ok', 'ok'],
  },
  {
    name: 'listen() checks the port again',
    matches: (d) => d.step.op === 'listen' && d.linux === 'EADDRINUSE' && d.pm === 'ok' &&
      d.live.some((l) => linuxPairConflict('tcp', d.subject, l)),
    example: { name: 'example: two TCP SO_REUSEADDR sockets listen', transport: 'tcp', steps: [bind('v4', 'any', RA), bind('v4', 'any', RA), listen(1), listen(2)] },
    linux: ['ok', 'ok', 'ok', 'EADDRINUSE'],
    pm: ['ok', 'ok', 'ok', 'ok'],
  },
  {
    name: 'TCP: the SO_REUSEPORT fast path skips the conflict check',
    matches: (d) => isBind(d) && d.seq.transport === 'tcp' && d.linux === 'ok' && d.pm === 'EADDRINUSE' && d.step.reusePort &&
      d.live.some((l) => linuxPairConflict('tcp', d.subject, l)) && d.history.some((m) => reusePortCacheCovers(m, d.subject)),
    example: {
      name: 'example: a device-bound SO_REUSEPORT socket opens the fast path', transport: 'tcp',
      steps: [bind('v4', 'any', { device: 2 }), bind('v4', 'any', { ...RP, device: 1 }), bind('v4', 'dev2', RP)],
    },
    linux: ['ok', 'ok', 'ok'],
    pm: ['ok', 'ok', 'EADDRINUSE'],
  },
  {
    name: 'UDP: the first SO_REUSEPORT match ends the conflict scan',
    matches: (d) => isBind(d) && d.seq.transport === 'udp' && d.linux === 'ok' && d.pm === 'EADDRINUSE' && d.step.reusePort &&
      d.live.some((l) => linuxPairConflict('udp', d.subject, l)) &&
      d.live.some((l) => interacts(l.bind, d.subject) && l.bind.reusePort && l.bind.uid === d.subject.uid),
    example: {
      name: 'example: SO_REUSEPORT on a device-bound socket hides a plain one', transport: 'udp',
      steps: [bind('v4', 'any', { device: 2 }), bind('v4', 'any', { ...RP, device: 1 }), bind('v4', 'any', RP)],
    },
    linux: ['ok', 'ok', 'ok'],
    pm: ['ok', 'ok', 'EADDRINUSE'],
  },
  {
    name: 'One flag shared by all holders, or by each pair',
    matches: (d) => isBind(d) && d.linux === 'ok' && (d.pm === 'EADDRINUSE' || (d.step.ephemeral && d.pm === NO_PORT_AVAILABLE)) &&
      !d.live.some((l) => linuxPairConflict(d.seq.transport, d.subject, l)) && onlyTheIntersectionRefuses(d.seq.transport, d.subject, d.live),
    example: {
      name: 'example: one holder shares SO_REUSEADDR, the other SO_REUSEPORT', transport: 'udp',
      steps: [bind('v4', 'any', { ...RA, device: 1 }), bind('v4', 'any', { ...RP, device: 2 }), bind('v4', 'any', BOTH)],
    },
    linux: ['ok', 'ok', 'ok'],
    pm: ['ok', 'ok', 'EADDRINUSE'],
  },
  {
    name: 'No ephemeral port left: EADDRINUSE or ERR_NETSHARD_NO_PORT_AVAILABLE',
    matches: (d) => isBind(d) && d.step.ephemeral && d.linux === 'EADDRINUSE' && d.pm === NO_PORT_AVAILABLE,
    example: { name: 'example: the only ephemeral port is taken', transport: 'udp', steps: [bind('v4', 'any'), bind('v4', 'any', { ephemeral: true })] },
    linux: ['ok', 'EADDRINUSE'],
    pm: ['ok', NO_PORT_AVAILABLE],
  },
];

function classify(d: Disagreement): KnownClass | undefined {
  return KNOWN.find((k) => k.matches(d));
}

// ---------------------------------------------------------------------------------------------------------

function pythonMissingReason(): string {
  try {
    execFileSync('python3', ['-c', 'import socket, json'], { stdio: 'ignore' });
    return '';
  } catch {
    return 'python3 is not installed';
  }
}

const Diff = suite('ports/linux-diff');
const skipReason = netnsUnavailableReason() || pythonMissingReason();

if (skipReason) {
  console.log(`ports/linux-diff: skipped: ${skipReason}`);
} else {
  let net: Net | undefined;
  let linux: LinuxBinder | undefined;
  const cleanUp = (): void => {
    if (net) deleteNetns(net.ns);
  };
  process.once('exit', cleanUp); // a crash between before() and after() still removes the namespace

  /** Runs sequences on one PortManager, prints the step count and the known-class counts, and returns the
   *  unexplained disagreements, each with its sequence printed. */
  const runAll = async (label: string, seqs: readonly Sequence[], show: boolean): Promise<string[]> => {
    const unknown: string[] = [];
    const counts = new Map<string, number>();
    let compared = 0;
    const pm = createPortManager();
    for (const seq of seqs) {
      const run = await runSequence(seq, linux!, pm, net!);
      compared += run.outcomes.filter((o) => o.linux !== 'n/a').length;
      if (show && process.env.PORTS_DIFF_VERBOSE) console.log(formatSequence(seq, run.outcomes));
      for (const d of run.disagreements) {
        const k = classify(d);
        if (k) {
          counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
          if (process.env.PORTS_DIFF_VERBOSE) console.log(`[${k.name}] step #${d.index + 1}\n${formatSequence(seq, run.outcomes)}`);
        } else {
          unknown.push(`step #${d.index + 1} is in no known class:\n${formatSequence(seq, run.outcomes)}`);
        }
      }
    }
    const lines = KNOWN.map((k) => `  ${String(counts.get(k.name) ?? 0).padStart(5)}  ${k.name}`);
    console.log(`ports/linux-diff: ${label}: ${seqs.length} sequences, ${compared} steps compared, ` +
      `${unknown.length} unexplained; known-class disagreements:\n${lines.join('\n')}`);
    return unknown;
  };

  Diff.before(async () => {
    try {
      net = setUpNamespace();
      linux = new LinuxBinder(net.ns);
      const info = await linux.run([{ op: 'ifindex', names: net.devices }, { op: 'port_range' }]);
      net.nic = [info[0]!.ifindex![net.devices[0]]!, info[0]!.ifindex![net.devices[1]]!];
      assert.equal(info[1]!.range, [PORT, PORT], 'the namespace ephemeral range is exactly PORT');
    } catch (e) {
      cleanUp();
      throw e;
    }
  });

  Diff.after(async () => {
    await linux?.stop();
    cleanUp();
    net = undefined;
  });

  Diff('every known class has a heading in docs/PORTS.md', () => {
    const doc = readFileSync(DOC, 'utf8');
    for (const k of KNOWN) assert.ok(doc.includes(`\n### ${k.name}\n`), `docs/PORTS.md has no heading "### ${k.name}"`);
  });

  Diff('the default PortManager keeps gVisor\'s ephemeral range, not the kernel\'s', () => {
    assert.equal([DEFAULT_FIRST_EPHEMERAL, DEFAULT_LAST_EPHEMERAL], [16000, 65535]);
    assert.equal(PortManager.create().portRange(), [16000, 65535]);
    console.log(`ports/linux-diff: default ephemeral range: Linux ${net!.defaultRange}, PortManager 16000..65535`);
  });

  Diff('each known class: its example holds on Linux and on the default PortManager', async () => {
    for (const k of KNOWN) {
      const run = await runSequence(k.example, linux!, createPortManager(), net!);
      const shown = formatSequence(k.example, run.outcomes);
      assert.equal(run.outcomes.map((o) => o.linux), k.linux, `${k.name}: Linux changed:\n${shown}`);
      assert.equal(run.outcomes.map((o) => o.pm), k.pm, `${k.name}: the PortManager no longer does what gVisor does:\n${shown}`);
      assert.ok(run.disagreements.length > 0, `${k.name}: the example shows no disagreement`);
      for (const d of run.disagreements) assert.is(classify(d)?.name, k.name, `${k.name}: step #${d.index + 1} classified elsewhere:\n${shown}`);
    }
  });

  Diff('fixed sequences: every disagreement is a known class', async () => {
    const unknown = await runAll('fixed', FIXED, true);
    assert.ok(unknown.length === 0, `${unknown.length} unexplained disagreements:\n${unknown.join('\n')}`);
  });

  const seed = Number(process.env.PORTS_DIFF_SEED ?? 0x5eed);
  const count = Number(process.env.PORTS_DIFF_SEQUENCES ?? 2000);
  const maxSteps = Number(process.env.PORTS_DIFF_MAX_STEPS ?? 4);
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(count) || count < 0 || !Number.isSafeInteger(maxSteps) || maxSteps < 2) {
    throw new Error('PORTS_DIFF_SEED, PORTS_DIFF_SEQUENCES (>= 0) and PORTS_DIFF_MAX_STEPS (>= 2) must be integers');
  }
  Diff(`random sequences (seed ${seed}, ${count}): every disagreement is a known class`, async () => {
    const unknown = await runAll(`random (seed ${seed})`, randomSequences(seed, count, maxSteps), false);
    assert.ok(unknown.length === 0, `${unknown.length} unexplained disagreements (first 20):\n${unknown.slice(0, 20).join('\n')}`);
  });
}

Diff.run();
