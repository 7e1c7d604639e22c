/**
 * `netshard forward --tun` end to end, for what the workers' `RouteForwarder` finishes itself: a packet
 * whose TTL / hop limit would expire is answered with an ICMP time exceeded that the sending kernel accepts
 * and hands to the sending socket, and a packet without a route is dropped and counted by reason.
 *
 * Topology (one namespace, ns-tun-ttl-<pid>, as the `--tun` case of forward.test.ts): two multi-queue TUN
 * devices, tun-i-<pid> (198.18.7.1/24, 2001:2:0:7::1/64) and tun-o-<pid> (198.18.8.1/24, 2001:2:0:8::1/64).
 * The kernel routes 198.19.9.0/24 and 2001:2:0:9::/64 (which the engine routes on, out of tun-o) and
 * 198.19.10.0/24 and 2001:2:0:a::/64 (which the engine has no route for) into tun-i. The CLI runs as a
 * child process with --netns, 2 workers per device, --json.
 *
 * - TTL 1 / hop limit 1: a kernel UDP socket with IP_RECVERR / IPV6_RECVERR sends one datagram with
 *   IP_TTL 1 / IPV6_UNICAST_HOPS 1 (a local send does not decrement it, so it enters tun-i with 1); its
 *   error queue must then hold an ICMP (origin ICMP / ICMP6) time exceeded, code 0, from tun-i's address,
 *   for that very datagram (the kernel matched the quoted headers to the socket, and hands back the
 *   payload), with no ICMP error counted by the kernel (checksums it accepts: /proc/net/snmp, snmp6).
 * - no route: the datagrams are counted in the workers' `forwardReasons` as NoRoute, and in `drops`.
 * - too big (second case, its own namespace ns-tbg-mtu-<pid> with TUN devices tbgi<pid> / tbgo<pid>, tbgo's
 *   MTU lowered to 1280 before the CLI starts and reads it): a 1400-byte UDP datagram with DF
 *   (IP_MTU_DISCOVER / IPV6_MTU_DISCOVER = PMTUDISC_DO) from a socket with IP(V6)_RECVERR gets an ICMP
 *   fragmentation needed (3/4) / ICMPv6 packet too big (2/0) with MTU 1280 in its error queue (EMSGSIZE),
 *   the kernel takes the MTU (the next send of that size fails with EMSGSIZE at once, its local error
 *   carrying 1280); a 1400-byte IPv4 datagram without DF (IP_PMTUDISC_DONT) is dropped and counted with
 *   the others as TooBig, and its socket gets no error.
 *
 * IPv4 needs `accept_local` on tun-i: the CLI gives the workers the kernel's own addresses on the TUN
 * devices as the engine's (`forwardingConfigFromKernel`), so the time exceeded comes from 198.18.7.1, an
 * address of this very kernel, and Linux drops a packet arriving with one of its own addresses as source
 * ("martian source", `fib_validate_source()`) unless accept_local is on for the receiving device.
 * IPv6 input has no such check.
 *
 * Needs root and /dev/net/tun; without either it prints why and skips.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addNetns, deleteNetns, inNetns, ip, netnsUnavailableReason } from '../helpers/netns.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

/** A child process with its output collected; killed in `finally` if still alive. */
class Proc {
  readonly child: ChildProcess;
  out = '';
  err = '';
  readonly exited: Promise<number | null>;

  constructor(argv: readonly string[]) {
    this.child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Resolves once `pattern` shows in stdout or stderr; rejects if the process exits first or after `ms` (a bound, not a timing check). */
  async waitFor(pattern: RegExp, what: string, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.out) && !pattern.test(this.err)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`${what}: exited first\n${this.err}${this.out}`);
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${ms} ms\n${this.err}${this.out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The last stdout line, parsed. */
  lastJson<T>(): T {
    return JSON.parse(this.out.trim().split('\n').pop() ?? 'null') as T;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * Inside the namespace: sends `noroute` datagrams to argv[3] (no route in the engine), then one datagram
 * with TTL / hop limit 1 to argv[2] from a socket with IP(V6)_RECVERR, and reads its error queue (up to 3 s).
 * argv: family (4|6) ttl-destination noroute-destination noroute-count. Prints one JSON line: the
 * sock_extended_err fields, the offender (the ICMP source), the payload handed back, and the kernel's
 * ICMP counters (time exceeded received, errors) over the run.
 */
const PROBE_PY = `
import json, select, socket, struct, sys, time
family, dst, noroute, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
v6 = family == '6'
af = socket.AF_INET6 if v6 else socket.AF_INET
# linux/in.h, linux/in6.h: IP_RECVERR 11, IP_TTL 2; IPV6_RECVERR 25, IPV6_UNICAST_HOPS 16; MSG_ERRQUEUE 0x2000
level, RECVERR, HOPS = (41, 25, 16) if v6 else (0, 11, 2)
def counters():
    if v6:
        rows = dict(l.split() for l in open('/proc/net/snmp6'))
        return {'timeExceeded': int(rows['Icmp6InTimeExcds']), 'errors': int(rows['Icmp6InErrors']), 'csumErrors': int(rows['Icmp6InCsumErrors'])}
    rows = [l.split() for l in open('/proc/net/snmp')]
    icmp = {h[0]: dict(zip(h[1:], map(int, v[1:]))) for h, v in zip(rows[0::2], rows[1::2])}['Icmp:']
    return {'timeExceeded': icmp['InTimeExcds'], 'errors': icmp['InErrors'], 'csumErrors': icmp['InCsumErrors']}
before = counters()
plain = socket.socket(af, socket.SOCK_DGRAM)
for i in range(count): plain.sendto(b'netshard-noroute', (noroute, 9000 + i))
s = socket.socket(af, socket.SOCK_DGRAM)
s.setsockopt(level, RECVERR, 1)
s.setsockopt(level, HOPS, 1)
s.sendto(b'netshard-ttl1', (dst, 9000))
result = {'received': False}
p = select.poll()
p.register(s, select.POLLERR)
deadline = time.time() + 3
while time.time() < deadline and not p.poll(100): pass
try:
    data, anc, flags, _ = s.recvmsg(2048, 512, socket.MSG_ERRQUEUE)
    for lvl, kind, value in anc:
        if lvl != level or kind != RECVERR: continue
        errno_, origin, type_, code, _, info, _ = struct.unpack('=IBBBBII', value[:16])
        offender = socket.inet_ntop(af, value[24:40] if v6 else value[20:24])
        result = {'received': True, 'errno': errno_, 'origin': origin, 'type': type_, 'code': code, 'offender': offender, 'data': data.decode()}
except BlockingIOError:
    pass
time.sleep(0.1)
after = counters()
result['kernel'] = {k: after[k] - before[k] for k in after}
print(json.dumps(result))
`;

interface Probe {
  received: boolean;
  errno?: number;
  origin?: number;
  type?: number;
  code?: number;
  offender?: string;
  data?: string;
  kernel: { timeExceeded: number; errors: number; csumErrors: number };
}

interface Summary {
  stoppedBy: string;
  coordinator: { noStack: number };
  totals: { drops: number; forwardDrops: number; forwardReasons: Record<string, number> };
  workers: { interface: string; forwardDrops: number; drops: number; forwardReasons: Record<string, number> }[];
}

const EHOSTUNREACH = 113, EMSGSIZE = 90;
const SO_EE_ORIGIN_LOCAL = 1;
const SO_EE_ORIGIN_ICMP = 2, SO_EE_ORIGIN_ICMP6 = 3;
const NOROUTE_V4 = 3, NOROUTE_V6 = 2;

/**
 * Makes the two multi-queue TUN devices in `ns`, with their addresses, up; `outMtu` lowers `tunOut`'s MTU.
 * Routes `routedIn` (prefixes the kernel sends into `tunIn`) and turns on accept_local for `tunIn`: the
 * ICMP errors the engine sends back come from the kernel's own address there (see the file comment).
 */
function makeTuns(ns: string, tunIn: string, tunOut: string, routedIn: readonly string[], outMtu?: number): void {
  for (const [dev, v4, v6] of [[tunIn, '198.18.7.1/24', '2001:2:0:7::1/64'], [tunOut, '198.18.8.1/24', '2001:2:0:8::1/64']] as const) {
    ip('-n', ns, 'tuntap', 'add', 'mode', 'tun', 'multi_queue', 'name', dev);
    ip('-n', ns, 'addr', 'add', v4, 'dev', dev);
    ip('-n', ns, 'addr', 'add', v6, 'dev', dev, 'nodad');
    if (dev === tunOut && outMtu !== undefined) ip('-n', ns, 'link', 'set', dev, 'mtu', String(outMtu));
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
  for (const prefix of routedIn) ip('-n', ns, 'route', 'add', prefix, 'dev', tunIn);
  for (const key of [`net.ipv4.conf.${tunIn}.accept_local=1`, `net.ipv4.conf.${tunIn}.rp_filter=0`, 'net.ipv4.conf.all.rp_filter=0']) {
    inNetns(ns, 'sysctl', '-qw', key);
  }
}

/** Sums the `forwardReasons` of `workers` on interface `name`. */
function reasonsOf(summary: Summary, name: string): Record<string, number> {
  const reasons: Record<string, number> = {};
  for (const w of summary.workers.filter((x) => x.interface === name)) {
    for (const [k, v] of Object.entries(w.forwardReasons)) reasons[k] = (reasons[k] ?? 0) + v;
  }
  return reasons;
}

/**
 * Inside the namespace: the too-big probe. argv: family (4|6) df-destination nodf-destination size.
 * IPv4 first sends `size` bytes (IP total) without DF to nodf-destination from its own socket. Then a
 * socket with PMTUDISC_DO and IP(V6)_RECVERR sends `size` bytes to df-destination, reads its error queue
 * (up to 3 s), sends again (the kernel should refuse at once: EMSGSIZE) and reads the local error. Last,
 * the no-DF socket's error queue is read without waiting (it must be empty). Prints one JSON line.
 */
const MTU_PROBE_PY = `
import errno, json, select, socket, struct, sys, time
family, dst, nodf, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
v6 = family == '6'
af = socket.AF_INET6 if v6 else socket.AF_INET
# linux/in.h: IP_MTU_DISCOVER 10, IP_RECVERR 11; linux/in6.h: IPV6_MTU_DISCOVER 23, IPV6_RECVERR 25;
# PMTUDISC_DONT 0, PMTUDISC_DO 2 (both families); MSG_ERRQUEUE 0x2000
level, DISCOVER, RECVERR = (41, 23, 25) if v6 else (0, 10, 11)
payload = b'netshard-mtu'.ljust(size - (48 if v6 else 28), b'.')
def counters():
    if v6:
        rows = dict(l.split() for l in open('/proc/net/snmp6'))
        return {'tooBig': int(rows['Icmp6InPktTooBigs']), 'errors': int(rows['Icmp6InErrors']), 'csumErrors': int(rows['Icmp6InCsumErrors'])}
    rows = [l.split() for l in open('/proc/net/snmp')]
    icmp = {h[0]: dict(zip(h[1:], map(int, v[1:]))) for h, v in zip(rows[0::2], rows[1::2])}['Icmp:']
    return {'tooBig': icmp['InDestUnreachs'], 'errors': icmp['InErrors'], 'csumErrors': icmp['InCsumErrors']}
def errqueue(s, wait):
    p = select.poll()
    p.register(s, select.POLLERR)
    deadline = time.time() + wait
    while time.time() < deadline and not p.poll(50): pass
    try:
        data, anc, _, _ = s.recvmsg(4096, 512, socket.MSG_ERRQUEUE)
    except BlockingIOError:
        return None
    for lvl, kind, value in anc:
        if lvl != level or kind != RECVERR: continue
        errno_, origin, type_, code, _, info, _ = struct.unpack('=IBBBBII', value[:16])
        offender = socket.inet_ntop(af, value[24:40] if v6 else value[20:24])
        return {'errno': errno_, 'origin': origin, 'type': type_, 'code': code, 'info': info, 'offender': offender, 'dataLength': len(data), 'data': data[:12].decode()}
    return {'cmsg': False}
def sock(discover):
    s = socket.socket(af, socket.SOCK_DGRAM)
    s.setsockopt(level, RECVERR, 1)
    s.setsockopt(level, DISCOVER, discover)
    return s
before = counters()
result = {}
plain = None
if not v6:
    plain = sock(0)
    plain.sendto(payload, (nodf, 9000))
s = sock(2)
s.sendto(payload, (dst, 9000))
result['icmp'] = errqueue(s, 3)
try:
    s.sendto(payload, (dst, 9000))
    result['resend'] = 0
except OSError as e:
    result['resend'] = e.errno
result['local'] = errqueue(s, 0)
if plain is not None: result['noDf'] = errqueue(plain, 0)
time.sleep(0.1)
after = counters()
result['kernel'] = {k: after[k] - before[k] for k in after}
print(json.dumps(result))
`;

interface ErrQueue {
  errno: number;
  origin: number;
  type: number;
  code: number;
  info: number;
  offender: string;
  dataLength: number;
  data: string;
}

interface MtuProbe {
  icmp: ErrQueue | null;
  resend: number;
  local: ErrQueue | null;
  noDf?: ErrQueue | null;
  kernel: { tooBig: number; errors: number; csumErrors: number };
}

const Tun = suite('main/forward-tun');
const skip = netnsUnavailableReason() || (existsSync('/dev/net/tun') ? '' : 'no /dev/net/tun');

if (skip !== '') {
  console.log(`main/forward-tun: skipping: ${skip}`);
} else {
  Tun('--tun: TTL / hop limit 1 gets an ICMP time exceeded the sender\'s kernel accepts; no route is a counted drop', async () => {
    const pid = process.pid, ns = `ns-tun-ttl-${pid}`, tunIn = `tun-i-${pid}`, tunOut = `tun-o-${pid}`;
    const live: Proc[] = [];
    addNetns(ns);
    try {
      // See the file comment: the time exceeded's IPv4 source is one of this kernel's own addresses.
      makeTuns(ns, tunIn, tunOut, ['198.19.9.0/24', '198.19.10.0/24', '2001:2:0:9::/64', '2001:2:0:a::/64']);
      const cli = new Proc([
        process.execPath, '--import', 'tsx', MAIN, 'forward', '--tun', '--in', tunIn, '--out', tunOut, '--workers', '2', '--netns', ns,
        '--route', `198.19.9.0/24,dev=${tunOut}`, '--route', `2001:2:0:9::/64,dev=${tunOut}`, '--json',
      ]);
      live.push(cli);
      await cli.waitFor(/^forwarding /m, 'netshard forward --tun ready');
      const probes: Record<'4' | '6', Probe> = { '4': { received: false, kernel: { timeExceeded: 0, errors: 0, csumErrors: 0 } }, '6': { received: false, kernel: { timeExceeded: 0, errors: 0, csumErrors: 0 } } };
      for (const [family, dst, noroute, count] of [['4', '198.19.9.5', '198.19.10.5', NOROUTE_V4], ['6', '2001:2:0:9::5', '2001:2:0:a::5', NOROUTE_V6]] as const) {
        const probe = new Proc(['ip', 'netns', 'exec', ns, 'python3', '-c', PROBE_PY, family, dst, noroute, String(count)]);
        live.push(probe);
        assert.is(await probe.exited, 0, `probe (IPv${family}): ${probe.err}`);
        probes[family] = probe.lastJson<Probe>();
      }
      cli.child.kill('SIGINT');
      assert.is(await cli.exited, 0, cli.err);
      const summary = cli.lastJson<Summary>();

      assert.equal(probes['4'], {
        received: true, errno: EHOSTUNREACH, origin: SO_EE_ORIGIN_ICMP, type: 11, code: 0, offender: '198.18.7.1', data: 'netshard-ttl1',
        kernel: { timeExceeded: 1, errors: 0, csumErrors: 0 },
      }, 'IPv4: time exceeded (11/0) from tun-i\'s address in the socket\'s error queue, no ICMP error counted');
      assert.equal(probes['6'], {
        received: true, errno: EHOSTUNREACH, origin: SO_EE_ORIGIN_ICMP6, type: 3, code: 0, offender: '2001:2:0:7::1', data: 'netshard-ttl1',
        kernel: { timeExceeded: 1, errors: 0, csumErrors: 0 },
      }, 'IPv6: time exceeded (3/0) from tun-i\'s address');

      const inbound = summary.workers.filter((w) => w.interface === tunIn);
      const reasons = reasonsOf(summary, tunIn);
      assert.equal(reasons, { NoRoute: NOROUTE_V4 + NOROUTE_V6, TtlExceeded: 2 }, 'tun-i\'s workers: drops by reason');
      assert.is(inbound.reduce((n, w) => n + w.forwardDrops, 0), NOROUTE_V4 + NOROUTE_V6 + 2, 'each one a forwarder drop');
      assert.ok(summary.totals.drops >= NOROUTE_V4 + NOROUTE_V6 + 2, `counted in the summary's drops (${summary.totals.drops})`);
      assert.equal(summary.totals.forwardReasons, reasons, 'tun-o\'s workers dropped nothing by reason');
    } finally {
      for (const p of live) p.kill();
      deleteNetns(ns); // the TUN devices go with the namespace
    }
    const left = ip('netns', 'list').split('\n').filter((line) => line.startsWith(`ns-tun-ttl-${pid}`));
    assert.equal(left, [], 'no namespace left behind');
  });

  Tun('--tun: too big for tun-o (MTU 1280): DF gets fragmentation needed / packet too big with the MTU, the sender\'s kernel adopts it; no DF is a counted drop', async () => {
    const pid = process.pid, ns = `ns-tbg-mtu-${pid}`, tunIn = `tbgi${pid}`, tunOut = `tbgo${pid}`;
    const MTU = 1280, SIZE = 1400;
    const live: Proc[] = [];
    addNetns(ns);
    try {
      makeTuns(ns, tunIn, tunOut, ['198.19.9.0/24', '2001:2:0:9::/64'], MTU);
      const cli = new Proc([
        process.execPath, '--import', 'tsx', MAIN, 'forward', '--tun', '--in', tunIn, '--out', tunOut, '--workers', '2', '--netns', ns,
        '--route', `198.19.9.0/24,dev=${tunOut}`, '--route', `2001:2:0:9::/64,dev=${tunOut}`, '--json',
      ]);
      live.push(cli);
      await cli.waitFor(/^forwarding /m, 'netshard forward --tun ready');
      const probes: Partial<Record<'4' | '6', MtuProbe>> = {};
      for (const [family, dst, nodf] of [['4', '198.19.9.5', '198.19.9.6'], ['6', '2001:2:0:9::5', '2001:2:0:9::6']] as const) {
        const probe = new Proc(['ip', 'netns', 'exec', ns, 'python3', '-c', MTU_PROBE_PY, family, dst, nodf, String(SIZE)]);
        live.push(probe);
        assert.is(await probe.exited, 0, `probe (IPv${family}): ${probe.err}`);
        probes[family] = probe.lastJson<MtuProbe>();
      }
      cli.child.kill('SIGINT');
      assert.is(await cli.exited, 0, cli.err);
      const summary = cli.lastJson<Summary>();

      // The error queue hands back the quoted datagram's payload: the quote (576 - 28 bytes of IPv4, 1280 - 48 of
      // IPv6) less the quoted IP + UDP headers. The local error carries none.
      assert.equal(probes['4'], {
        icmp: { errno: EMSGSIZE, origin: SO_EE_ORIGIN_ICMP, type: 3, code: 4, info: MTU, offender: '198.18.7.1', dataLength: 576 - 28 - 28, data: 'netshard-mtu' },
        resend: EMSGSIZE,
        local: { errno: EMSGSIZE, origin: SO_EE_ORIGIN_LOCAL, type: 0, code: 0, info: MTU, offender: '0.0.0.0', dataLength: 0, data: '' },
        noDf: null,
        kernel: { tooBig: 1, errors: 0, csumErrors: 0 },
      }, 'IPv4: fragmentation needed (3/4), next-hop MTU 1280, from tun-i\'s address; then EMSGSIZE locally; no error for the datagram without DF');
      assert.equal(probes['6'], {
        icmp: { errno: EMSGSIZE, origin: SO_EE_ORIGIN_ICMP6, type: 2, code: 0, info: MTU, offender: '2001:2:0:7::1', dataLength: 1280 - 48 - 48, data: 'netshard-mtu' },
        resend: EMSGSIZE,
        local: { errno: EMSGSIZE, origin: SO_EE_ORIGIN_LOCAL, type: 0, code: 0, info: MTU, offender: '::', dataLength: 0, data: '' },
        kernel: { tooBig: 1, errors: 0, csumErrors: 0 },
      }, 'IPv6: packet too big (2/0), MTU 1280, from tun-i\'s address; then EMSGSIZE locally');

      // v4 DF, v4 without DF, v6: each sent once (the resends never left the sender).
      assert.equal(reasonsOf(summary, tunIn), { TooBig: 3 }, 'tun-i\'s workers: dropped as TooBig, not handed to the coordinator');
      assert.is(summary.workers.filter((w) => w.interface === tunIn).reduce((n, w) => n + w.forwardDrops, 0), 3, 'each one a forwarder drop');
      assert.equal(summary.totals.forwardReasons, { TooBig: 3 }, 'tun-o\'s workers dropped nothing by reason');
    } finally {
      for (const p of live) p.kill();
      deleteNetns(ns);
    }
    const left = ip('netns', 'list').split('\n').filter((line) => line.startsWith(`ns-tbg-mtu-${pid}`));
    assert.equal(left, [], 'no namespace left behind');
  });
}

Tun.run();
