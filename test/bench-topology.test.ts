/**
 * The forwarding topology of test/helpers/topology.ts, which bench/forward.ts and the engine's forwarding
 * tests stand on: kernel forwarding through ns-fwd really forwards (each datagram arrives once, from the
 * generator's address, its TTL / hop limit one lower), turning it off really stops it, the links are
 * what the file comment promises (names, MACs, queues, checksum offload off), and `destroy()` leaves no
 * namespace behind. Needs root; without it only the option checks run and the reason is printed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { NetshardError } from '../src/errors.ts';
import { ip, netnsUnavailableReason } from './helpers/netns.ts';
import { createForwardTopology, FORWARD_TOPOLOGY_PLAN, type ForwardTopology, type ForwardTopologyOptions } from './helpers/topology.ts';

const Topology = suite('bench topology');

for (const c of [
  { name: 'unknown key', options: { kernelForwading: true }, code: 'ERR_INVALID_ARG_VALUE', message: /options\.kernelForwading is not a known option/ },
  { name: 'kernelForwarding not a boolean', options: { kernelForwarding: 1 }, code: 'ERR_INVALID_ARG_TYPE', message: /options\.kernelForwarding must be of type boolean/ },
  { name: 'no queues', options: { queues: 0 }, code: 'ERR_OUT_OF_RANGE', message: /options\.queues must be an integer >= 1 and <= 16, received 0/ },
  { name: 'too many queues', options: { queues: 17 }, code: 'ERR_OUT_OF_RANGE', message: /options\.queues must be an integer >= 1 and <= 16, received 17/ },
  { name: 'ipv6 not a boolean', options: { ipv6: 'yes' }, code: 'ERR_INVALID_ARG_TYPE', message: /options\.ipv6 must be of type boolean/ },
]) {
  // Validation happens before anything is created, so these run without root too.
  Topology(`createForwardTopology rejects: ${c.name}`, () => {
    try {
      createForwardTopology(c.options as ForwardTopologyOptions);
    } catch (err) {
      assert.instance(err, NetshardError);
      assert.is((err as NetshardError).code, c.code);
      assert.match((err as Error).message, c.message);
      return;
    }
    assert.unreachable(`createForwardTopology(${JSON.stringify(c.options)}) did not throw`);
  });
}

/**
 * One python3 process (python starts slowly here) that enters ns-sink with setns and opens the receiver there,
 * enters ns-gen and opens the sender there (a socket stays in the namespace it was made in), sends COUNT
 * numbered datagrams with TTL / hop limit TTL, and collects for at most SECONDS what arrives, with the TTL the
 * sink's kernel saw (IP_RECVTTL / IPV6_RECVHOPLIMIT). Also reads transmit checksum offload of each
 * [namespace, interface] in `csum` (SIOCETHTOOL ETHTOOL_GTXCSUM). Prints one JSON object.
 */
const THROUGH_PY = `
import ctypes, fcntl, json, os, socket, struct, sys, time
CLONE_NEWNET, SIOCETHTOOL, ETHTOOL_GTXCSUM = 0x40000000, 0x8946, 0x16
IP_TTL, IP_RECVTTL = 2, 12  # <linux/in.h>; python's socket module has no IP_RECVTTL before 3.13
libc = ctypes.CDLL(None, use_errno=True)
def enter(ns):
    fd = os.open('/var/run/netns/' + ns, os.O_RDONLY | os.O_CLOEXEC)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit('setns ' + ns + ': ' + os.strerror(ctypes.get_errno()))
    os.close(fd)
spec = json.loads(sys.argv[1])
v6 = spec['family'] == 6
family = socket.AF_INET6 if v6 else socket.AF_INET
enter(spec['sinkNs'])
rx = socket.socket(family, socket.SOCK_DGRAM)
if v6:
    rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
else:
    rx.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
rx.bind((spec['dst'], spec['port']))
enter(spec['genNs'])
tx = socket.socket(family, socket.SOCK_DGRAM)
if v6:
    tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, spec['ttl'])
else:
    tx.setsockopt(socket.IPPROTO_IP, IP_TTL, spec['ttl'])
tx.bind((spec['src'], 0))
for i in range(spec['count']):
    tx.sendto(struct.pack('>I', i) + bytes(28), (spec['dst'], spec['port']))
got = []
deadline = time.monotonic() + spec['seconds']
while len(got) < spec['count']:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    rx.settimeout(left)
    try:
        data, ancillary, _flags, address = rx.recvmsg(2048, socket.CMSG_SPACE(4))
    except socket.timeout:
        break
    ttl = -1
    for level, kind, value in ancillary:
        if (level, kind) in ((socket.IPPROTO_IP, IP_TTL), (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT)):
            ttl = struct.unpack('i', value[:4])[0]
    got.append({'seq': struct.unpack('>I', data[:4])[0], 'ttl': ttl, 'from': address[0], 'bytes': len(data)})
csum = {}
for ns, name in spec['csum']:
    enter(ns)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    data = ctypes.create_string_buffer(struct.pack('II', ETHTOOL_GTXCSUM, 0), 8)
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack('16sP', name.encode(), ctypes.addressof(data)).ljust(40, b'\\0'))
    csum[name] = struct.unpack('II', data.raw)[1]
    s.close()
print(json.dumps({'got': got, 'txChecksum': csum}))
`;

interface Through {
  got: { seq: number; ttl: number; from: string; bytes: number }[];
  txChecksum: Record<string, number>;
}

/** Sends `count` datagrams gen → sink through ns-fwd and returns what the sink got (bounded: 20 s). */
function sendThrough(t: ForwardTopology, family: 4 | 6, count: number, seconds: number): Through {
  const spec = {
    genNs: t.namespaces.gen,
    sinkNs: t.namespaces.sink,
    family,
    src: family === 4 ? t.gen.ipv4 : t.gen.ipv6,
    dst: family === 4 ? t.sink.ipv4 : t.sink.ipv6,
    port: 9100,
    count,
    ttl: 64,
    seconds,
    csum: [t.gen, t.fwdIn, t.fwdOut, t.sink].map((l) => [l.ns, l.name]),
  };
  let out: string;
  try {
    out = execFileSync('python3', ['-c', THROUGH_PY, JSON.stringify(spec)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (err) {
    throw new Error(`the python3 sender/receiver failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  return JSON.parse(out) as Through;
}

function namespacesListed(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

const reason = netnsUnavailableReason();
if (reason !== '') {
  console.log(`bench topology: skipping the namespace tests: ${reason}`);
} else {
  let topology: ForwardTopology | undefined;
  const destroyOnExit = (): void => topology?.destroy();
  Topology.before(() => {
    process.on('exit', destroyOnExit);
    topology = createForwardTopology({ kernelForwarding: true });
  });
  Topology.after(() => {
    topology?.destroy();
    process.off('exit', destroyOnExit);
  });

  Topology('names carry the pid, fit IFNAMSIZ, and the MACs are the plan', () => {
    const t = topology!;
    const pid = String(process.pid);
    assert.equal(t.namespaces, { gen: `ns-gen-${pid}`, fwd: `ns-fwd-${pid}`, sink: `ns-sink-${pid}` });
    for (const [key, link] of Object.entries({ gen: t.gen, fwdIn: t.fwdIn, fwdOut: t.fwdOut, sink: t.sink })) {
      assert.ok(link.name.endsWith(pid) && link.name.length <= 15, `${key}: interface name ${link.name}`);
      assert.is(link.mac, FORWARD_TOPOLOGY_PLAN[key as keyof typeof FORWARD_TOPOLOGY_PLAN].mac, `${key}: MAC`);
      const detail = JSON.parse(ip('-j', '-d', '-n', link.ns, 'link', 'show', 'dev', link.name)) as { address: string; num_tx_queues: number; num_rx_queues: number; operstate: string }[];
      assert.is(detail[0]?.address, link.mac, `${key}: the kernel's MAC`);
      assert.is(detail[0]?.num_tx_queues, 2, `${key}: tx queues`);
      assert.is(detail[0]?.num_rx_queues, 2, `${key}: rx queues`);
      assert.is(detail[0]?.operstate, 'UP', `${key}: operstate`);
    }
  });

  for (const c of [
    { name: 'IPv4: TTL 64 arrives as 63, from the generator', family: 4 as const },
    { name: 'IPv6: hop limit 64 arrives as 63, from the generator', family: 6 as const },
  ]) {
    Topology(`kernel forwarding on, ${c.name}`, () => {
      const t = topology!;
      t.setKernelForwarding(true);
      const { got, txChecksum } = sendThrough(t, c.family, 100, 5);
      assert.is(got.length, 100, `received ${got.length} of 100`);
      assert.equal(
        got.map((d) => d.seq).sort((a, b) => a - b),
        Array.from({ length: 100 }, (_, i) => i),
        'each datagram exactly once',
      );
      const source = c.family === 4 ? t.gen.ipv4 : t.gen.ipv6;
      for (const d of got) {
        assert.is(d.ttl, 63, `datagram ${d.seq}: TTL ${d.ttl}, want 64 - 1`);
        assert.is(d.from, source, `datagram ${d.seq} from ${d.from}`);
        assert.is(d.bytes, 32);
      }
      assert.equal(txChecksum, { [t.gen.name]: 0, [t.fwdIn.name]: 0, [t.fwdOut.name]: 0, [t.sink.name]: 0 }, 'tx checksum offload off on every veth');
    });
  }

  Topology('kernel forwarding off: nothing crosses ns-fwd', () => {
    const t = topology!;
    t.setKernelForwarding(false);
    assert.is(t.kernelForwarding, false);
    const { got } = sendThrough(t, 4, 100, 0.5);
    assert.is(got.length, 0, `${got.length} datagrams crossed with forwarding off`);
    t.setKernelForwarding(true);
  });

  Topology('destroy() removes all three namespaces and may be called again', () => {
    const t = topology!;
    const mine = Object.values(t.namespaces);
    assert.equal(mine.filter((ns) => namespacesListed().includes(ns)), mine, 'all three exist before');
    t.destroy();
    t.destroy();
    assert.equal(mine.filter((ns) => namespacesListed().includes(ns)), [], 'none left after destroy()');
    try {
      t.setKernelForwarding(true);
      assert.unreachable('setKernelForwarding after destroy() did not throw');
    } catch (err) {
      assert.is((err as NetshardError).code, 'ERR_NETSHARD_TOPOLOGY_DESTROYED');
    }
  });
}

Topology.run();
