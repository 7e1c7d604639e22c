/**
 * `serve` against a real kernel: three app-worker instances of one SO_REUSEPORT UDP server on the
 * engine's stack (AF_PACKET sockets in a namespace, see `fixtures/stack-topology.ts`), a kernel client
 * sending from 200 source ports, a handler module that tags each reply with its instance.
 * (c) every flow is always answered by the same instance, the one gVisor's demuxer hash names, and every
 *     instance gets a share; the per-instance counters (shared memory and comlink) agree;
 * (e) another owner cannot join the group (EADDRINUSE), nor can a socket without SO_REUSEPORT take the
 *     port the app workers reserved in the shared PortManager; nothing leaks from the refusals;
 * (d) closing the servers releases the port: a plain bind then succeeds and answers.
 * Root only (network namespaces); bounded in packets and seconds; no timing assertions.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { createSocket, demuxHashIpv4, parseIpv4, reciprocalScale, type UdpEndpoint } from '../../src/tcpip/index.ts';
import { serve, type UdpServer } from '../../src/workers/index.ts';
import { netnsUnavailableReason } from '../helpers/netns.ts';
import { createStackTopology, type StackTopology } from './fixtures/stack-topology.ts';

const Serve = suite('workers/serve');
const reason = netnsUnavailableReason();
const PORT = 9000;
const INSTANCES = 3;
const FLOWS = 200;
const ROUNDS = 3;
const HANDLER = fileURLToPath(new URL('./fixtures/instance-handler.ts', import.meta.url));

/** The port's rows in the shared PortManager: refs by flag combination, summed over rows. */
function refsOf(server: UdpServer, port: number): number[] {
  const refs = [0, 0, 0, 0, 0, 0, 0, 0];
  for (const row of server.engine.ports.snapshot()) if (row.port === port) row.refs.forEach((n, i) => (refs[i]! += n));
  return refs;
}

/** Resolves with the error a bind reports (or null once it listens). */
async function bindResult(socket: UdpEndpoint, port: number): Promise<{ code: string } | null> {
  const outcome = new Promise<{ code: string } | null>((resolve) => {
    socket.once('listening', () => resolve(null));
    socket.once('error', (err: { code: string }) => resolve(err));
  });
  socket.bind(port);
  return outcome;
}

if (reason !== '') {
  console.log(`workers/serve: skipped: ${reason}`);
} else {
  Serve('serve: 3 reuseport instances, 200 flows each pinned to the hash-chosen instance; owners; release on close', async () => {
    let topo: StackTopology | null = null;
    let server: UdpServer | null = null;
    const sockets: UdpEndpoint[] = [];
    try {
      topo = createStackTopology('sv', 6);
      server = await serve({
        interface: topo.engine.name, netns: topo.engine.ns, fds: 2, addresses: [`${topo.engine.ipv4}/24`],
        port: PORT, instances: INSTANCES, handler: HANDLER, frameCount: 512, txFrameCount: 1024,
      });
      assert.equal(server.host.running, [0, 1, 2]);
      assert.equal(refsOf(server, PORT), [0, 0, INSTANCES, 0, 0, 0, 0, 0], 'each app worker holds one LoadBalanced reference');

      // (c) 200 flows × 3 rounds.
      const result = await topo.peer<{ ports: number[]; replies: string[][] }>(['flows', topo.engine.ipv4, PORT, FLOWS, ROUNDS, 30], 40_000);
      const seed = server.udp.demuxer.seed;
      const local = parseIpv4(topo.engine.ipv4), remote = parseIpv4(topo.client.ipv4);
      const perInstance = new Array<number>(INSTANCES).fill(0);
      result.replies.forEach((replies, flow) => {
        assert.is(replies.length, ROUNDS, `flow ${flow}: every datagram answered`);
        const instances = new Set(replies.map((r) => r.split('|')[0]));
        assert.is(instances.size, 1, `flow ${flow} answered by one instance, got ${[...instances]}`);
        const instance = Number([...instances][0]);
        const want = reciprocalScale(demuxHashIpv4(seed, PORT, result.ports[flow]!, local, remote), INSTANCES);
        assert.is(instance, want, `flow ${flow} (port ${result.ports[flow]}) went to the instance the demuxer hash names`);
        assert.equal(replies.map((r) => r.split('|')[1]).sort(), Array.from({ length: ROUNDS }, (_, r) => `${flow}:${r}`), `flow ${flow}: replies carry its requests`);
        perInstance[instance]!++;
      });
      for (let k = 0; k < INSTANCES; k++) assert.ok(perInstance[k]! > 0, `instance ${k} got a share (${perInstance})`);
      const stats = server.readStats().instances;
      for (let k = 0; k < INSTANCES; k++) {
        const s = stats[k]!;
        assert.is(s.datagramsIn, perInstance[k]! * ROUNDS, `instance ${k}: datagrams in`);
        assert.is(s.datagramsOut, perInstance[k]! * ROUNDS, `instance ${k}: datagrams out`);
        assert.is(s.sent, perInstance[k]! * ROUNDS, `instance ${k}: replies sent by the coordinator`);
        assert.is(s.flowsSeen, perInstance[k]!, `instance ${k}: flows seen`);
        assert.is(s.rxRingDrops + s.replyDrops + s.handlerErrors + s.sendErrors + s.pendingHandlers, 0, `instance ${k}: no drop, no error`);
      }
      const viaComlink = await server.host.stats();
      assert.equal(viaComlink.map((s) => s.datagramsIn), stats.map((s) => s.datagramsIn), 'comlink stats = shared-memory stats');

      // (e) Another owner's instance, and sockets on the coordinator: refused, nothing left behind.
      let refused: unknown = null;
      await server.host.addInstance({ owner: 4242 }).catch((err: unknown) => (refused = err));
      assert.is((refused as { code?: string } | null)?.code, 'EADDRINUSE', 'another owner cannot join the group');
      assert.equal(server.host.running, [0, 1, 2]);
      const stranger = createSocket({ type: 'udp4', reusePort: true, owner: 4242 }, server.udp);
      const plain = createSocket({ type: 'udp4' }, server.udp);
      sockets.push(stranger, plain);
      assert.is((await bindResult(stranger, PORT))?.code, 'EADDRINUSE', 'another owner\'s reusePort socket is refused');
      assert.is((await bindResult(plain, PORT))?.code, 'EADDRINUSE', 'a socket without SO_REUSEPORT is refused by the shared PortManager');
      assert.equal(refsOf(server, PORT), [0, 0, INSTANCES, 0, 0, 0, 0, 0], 'the refusals left no reference behind');
      const again = await topo.peer<{ reply: string | null }>(['ask', topo.engine.ipv4, PORT, 'after:0', 5]);
      assert.match(again.reply ?? '', /^[012]\|after:0$/, 'the group still serves');

      // (d) Close the servers: the port is free again for a plain socket, which now gets the traffic.
      const final = await server.host.close();
      assert.is(final.length, INSTANCES + 1, 'the refused instance is listed too');
      assert.equal(refsOf(server, PORT), [0, 0, 0, 0, 0, 0, 0, 0], 'every reservation released');
      const successor = createSocket({ type: 'udp4' }, server.udp);
      sockets.push(successor);
      assert.is(await bindResult(successor, PORT), null, 'a second bind succeeds');
      successor.on('message', (msg: Buffer, rinfo) => successor.send(`successor|${msg.toString()}`, rinfo.port, rinfo.address));
      const last = await topo.peer<{ reply: string | null }>(['ask', topo.engine.ipv4, PORT, 'bye', 5]);
      assert.is(last.reply, 'successor|bye');
    } finally {
      for (const s of sockets) {
        try { s.close(); } catch { /* already closed */ }
      }
      await server?.close();
      topo?.destroy();
    }
    for (const p of server!.engine.framePools()) assert.is(p.available, p.frameCount, `pool of slot ${p.slot} is full again`);
  });
}

Serve.run();
