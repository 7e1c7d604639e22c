/**
 * The kernel-side actors of the namespace demo, as python3 scripts: a UDP client in the client namespace
 * flooding a UDP sink in the sink namespace (through the engine), and a ping client. They use the kernel's
 * own sockets, so what the engine sees is what any Linux host sends: the client's kernel resolves its
 * gateway (the engine's address) by ARP, fills in checksums, and picks the ICMP identifier.
 *
 * One process per step: python3 starts in ~0.5 s here, and a script enters each namespace it needs with
 * setns(CLONE_NEWNET) (a socket stays in the namespace it was made in). Every loop is bounded in packets
 * and seconds. Product code does not compile C (bench/c is for benches), hence python3.
 *
 * Thread: main (child processes, awaited without blocking the event loop: the engine's stack runs there).
 */
import { spawn } from 'node:child_process';
import { NetshardError } from '../errors.ts';

/** Shared python: enter a named namespace; read a resolved IPv4 neighbour from the thread's namespace. */
const PRELUDE = `
import ctypes, json, os, socket, struct, sys, time
CLONE_NEWNET, SO_RCVBUFFORCE = 0x40000000, 33
libc = ctypes.CDLL(None, use_errno=True)
def enter(ns):
    fd = os.open('/var/run/netns/' + ns, os.O_RDONLY | os.O_CLOEXEC)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit('setns ' + ns + ': ' + os.strerror(ctypes.get_errno()))
    os.close(fd)
def neighbour(address):
    # /proc/thread-self/net follows this thread's namespace; flags 0x2 = ATF_COM (resolved)
    with open('/proc/thread-self/net/arp') as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[0] == address and int(p[2], 16) & 2:
                return p[3]
    return None
spec = json.loads(sys.argv[1])
`;

/**
 * The forwarding step. Opens the sink (bound UDP socket, 16 MiB receive buffer) in the sink namespace,
 * then `flows` UDP sockets in the client namespace, one per source port, each connected to the sink.
 * Sends one datagram and waits (at most 3 s) until the client's kernel has resolved its gateway by ARP,
 * then sends round-robin over the flows until `count` datagrams or `seconds` have gone by, draining the
 * sink between rounds; then drains the sink until it has been idle 0.3 s (at most 2 s).
 * Prints {"gatewayMac", "arpMs", "sent", "sendErrors", "sendSeconds", "received"}.
 */
export const FLOOD_PY = PRELUDE + `
enter(spec['sinkNs'])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
rx.bind((spec['dst'], spec['port']))
rx.setblocking(False)
enter(spec['clientNs'])
tx = []
for i in range(spec['flows']):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((spec['src'], spec['basePort'] + i))
    s.connect((spec['dst'], spec['port']))
    tx.append(s)
received = 0
def drain():
    global received
    try:
        while True:
            rx.recv(2048)
            received += 1
    except BlockingIOError:
        pass
payload = bytes(spec['size'])
start = time.monotonic()
tx[0].send(payload)
sent, errors = 1, 0
mac = neighbour(spec['gateway'])
while mac is None and time.monotonic() - start < 3:
    time.sleep(0.002)
    mac = neighbour(spec['gateway'])
arp_ms = (time.monotonic() - start) * 1000
sends = [s.send for s in tx]
count, rounds = spec['count'], 0
t0 = time.monotonic()
deadline = t0 + spec['seconds']
if mac is not None:
    while sent < count:
        for send in sends:
            try:
                send(payload)
                sent += 1
            except OSError:
                errors += 1
        rounds += 1
        if rounds % 8 == 0:
            drain()
            if time.monotonic() > deadline:
                break
t1 = time.monotonic()
idle = t1
while True:
    before = received
    drain()
    now = time.monotonic()
    if received != before:
        idle = now
    elif now - idle > 0.3 or now - t1 > 2:
        break
    time.sleep(0.01)
print(json.dumps({'gatewayMac': mac, 'arpMs': arp_ms, 'sent': sent, 'sendErrors': errors, 'sendSeconds': t1 - t0, 'received': received}))
`;

/** What `FLOOD_PY` prints. */
export interface FloodResult {
  /** The MAC the client's kernel resolved for its gateway, or null when ARP got no answer in 3 s. */
  gatewayMac: string | null;
  arpMs: number;
  sent: number;
  sendErrors: number;
  sendSeconds: number;
  received: number;
}

/**
 * The interop step: `count` ICMP echo requests to `dst` from a ping socket (SOCK_DGRAM, IPPROTO_ICMP; the
 * lab opens ping_group_range in the client namespace) in the client namespace, `intervalMs` apart, each
 * waiting at most `timeoutMs` for its reply. Prints {"rtts": [ms or null, ...], "mac": the neighbour entry
 * of `dst` afterwards}.
 */
export const PING_PY = PRELUDE + `
enter(spec['clientNs'])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
rtts = []
for seq in range(1, spec['count'] + 1):
    request = struct.pack('!BBHHH', 8, 0, 0, 0, seq) + b'netshard demo'
    t = time.monotonic()
    s.sendto(request, (spec['dst'], 0))
    rtt = None
    while rtt is None:
        left = spec['timeoutMs'] / 1000 - (time.monotonic() - t)
        if left <= 0:
            break
        s.settimeout(left)
        try:
            reply = s.recv(2048)
        except socket.timeout:
            break
        if reply[0] == 0 and struct.unpack('!H', reply[6:8])[0] == seq:
            rtt = (time.monotonic() - t) * 1000
    rtts.append(rtt)
    time.sleep(spec['intervalMs'] / 1000)
print(json.dumps({'rtts': rtts, 'mac': neighbour(spec['dst'])}))
`;

/** What `PING_PY` prints. */
export interface PingResult {
  rtts: (number | null)[];
  mac: string | null;
}

/**
 * The reuseport step: `flows` UDP sockets in the client namespace (source ports `basePort`..), each
 * connected to `dst`:`port`, each sending `rounds` datagrams (flow, round, "netshard"), all sent first;
 * then replies are collected until all came or `timeoutMs` passed. A reply is [instance, ...request]
 * (`demo-handler.ts`). Prints {"sent", "received", "bad": replies that were not an echo, "flows": per flow
 * the distinct instances that answered it}.
 */
export const REUSEPORT_PY = PRELUDE + `
import select
enter(spec['clientNs'])
socks = []
for i in range(spec['flows']):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((spec['src'], spec['basePort'] + i))
    s.connect((spec['dst'], spec['port']))
    s.setblocking(False)
    socks.append(s)
sent = 0
for r in range(spec['rounds']):
    for i, s in enumerate(socks):
        s.send(struct.pack('!HH', i, r) + b'netshard')
        sent += 1
flows = [set() for _ in socks]
received, bad = 0, 0
deadline = time.monotonic() + spec['timeoutMs'] / 1000
while received + bad < sent:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    for s in select.select(socks, [], [], min(left, 0.05))[0]:
        while True:
            try:
                data = s.recv(2048)
            except BlockingIOError:
                break
            i = socks.index(s)
            if len(data) == 13 and data[5:] == b'netshard' and struct.unpack('!H', data[1:3])[0] == i:
                flows[i].add(data[0])
                received += 1
            else:
                bad += 1
print(json.dumps({'sent': sent, 'received': received, 'bad': bad, 'flows': [sorted(f) for f in flows]}))
`;

/** What `REUSEPORT_PY` prints (and what the socketpair tour's own client gathers). */
export interface ReuseportClientResult {
  sent: number;
  received: number;
  bad: number;
  /** Per flow, the distinct instances that answered it (one each when SO_REUSEPORT keeps flows whole). */
  flows: number[][];
}

/**
 * Runs `python3 -c script JSON(spec)` and resolves with its parsed stdout (one JSON object) once the process
 * has exited. Kills it on `signal` (then rejects with the abort reason, after it exited: a process inside a
 * namespace keeps that namespace alive) and after `timeoutMs` (SIGKILL). Rejects with ERR_NETSHARD_ABORTED
 * when something else interrupted it (SIGINT, SIGTERM), with ERR_NETSHARD_DEMO_CHILD and its stderr when
 * it fails. Thread: main; never blocks the event loop.
 */
export function runPython<T>(what: string, script: string, spec: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const child = spawn('python3', ['-c', script, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const onAbort = (): void => void child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    let spawnError: Error | null = null;
    child.on('error', (err) => {
      spawnError = err;
      if (child.pid === undefined) {
        signal?.removeEventListener('abort', onAbort);
        reject(new NetshardError('ERR_NETSHARD_DEMO_CHILD', `could not start python3 (${what}): ${err.message}`, { cause: err }));
      }
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) return reject(signal.reason);
      if (killedBy === 'SIGINT' || killedBy === 'SIGTERM') {
        // Ctrl-C at a terminal reaches the whole process group: the child may die before our signal handler runs.
        return reject(new NetshardError('ERR_NETSHARD_ABORTED', `python3 (${what}) was interrupted (${killedBy})`));
      }
      if (code !== 0 || spawnError !== null) {
        const why = killedBy !== null ? `killed by ${killedBy}${killedBy === 'SIGKILL' ? ` (limit ${timeoutMs} ms)` : ''}` : `exit code ${code}`;
        return reject(new NetshardError('ERR_NETSHARD_DEMO_CHILD', `python3 (${what}) failed, ${why}: ${stderr.trim() || spawnError?.message || 'no message'}`));
      }
      try {
        resolve(JSON.parse(stdout) as T);
      } catch {
        reject(new NetshardError('ERR_NETSHARD_DEMO_CHILD', `python3 (${what}) printed no JSON: ${stdout.slice(0, 200)}`));
      }
    });
  });
}
