/**
 * gVisor's own port-table cases (test/fixtures/ports-gvisor.json, from pkg/tcpip/ports/ports_test.go),
 * driven through the PortManager. Each case also runs over IPv6 and over TCP/UDP: the cases never ask for
 * a shared ephemeral port, so the TCP port-0 rule cannot change them. After each case everything still
 * held is released and the table must be empty (gVisor prunes empty levels).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Flags, PortManager, type Reservation } from '../../src/ports/index.ts';
import { NetshardError } from '../../src/errors.ts';
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, type NetworkProtocolNumber } from '../../src/tcpip/protocols.ts';

interface FixtureOp {
  op: 'reserve' | 'release';
  port: number;
  addr: string;
  flags: string[];
  device: number;
  dest?: { addr: string; port: number };
  expect?: 'ok' | 'portInUse';
}
interface Fixture {
  ephemeral: { name?: string; tester?: string; expect?: string; note?: string }[];
  cases: { name: string; ops: FixtureOp[] }[];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/ports-gvisor.json', import.meta.url), 'utf8')) as Fixture;
const FLAG_NAMES: Record<string, number> = { mostRecent: Flags.MostRecent, loadBalanced: Flags.LoadBalanced, tupleOnly: Flags.TupleOnly };

/** How a case is run: the network, an address mapping (the fixture is IPv4), and the transport. */
const VARIANTS: { name: string; network: NetworkProtocolNumber; transport: number; mapAddr: (a: string) => string }[] = [
  { name: 'ipv4, transport 1 (as upstream)', network: IPV4_PROTOCOL_NUMBER, transport: 1, mapAddr: (a) => a },
  { name: 'ipv4, tcp', network: IPV4_PROTOCOL_NUMBER, transport: 6, mapAddr: (a) => a },
  // 198.18.0.8 → 2001:2::8 (the fixture's addresses differ only in the last octet)
  { name: 'ipv6, udp', network: IPV6_PROTOCOL_NUMBER, transport: 17, mapAddr: (a) => (a === '' ? '' : `2001:2::${a.split('.')[3]}`) },
];

function flagsOf(names: string[]): number {
  let f = 0;
  for (const n of names) {
    const bit = FLAG_NAMES[n];
    if (bit === undefined) throw new Error(`fixture flag ${n} is unknown`);
    f |= bit;
  }
  return f;
}

function toReservation(op: FixtureOp, v: (typeof VARIANTS)[number]): Reservation {
  const res: Reservation = {
    networks: [v.network], transport: v.transport, address: v.mapAddr(op.addr), port: op.port,
    flags: flagsOf(op.flags), bindToDevice: op.device,
  };
  if (op.dest !== undefined) res.destination = { address: v.mapAddr(op.dest.addr), port: op.dest.port };
  return res;
}

function sameKey(a: Reservation, b: Reservation): boolean {
  return JSON.stringify({ ...a, port: 0 }) === JSON.stringify({ ...b, port: 0 }) && a.port === b.port;
}

const Vectors = suite('ports/gvisor-vectors');

Vectors('the fixture holds the 34 upstream cases', () => {
  assert.is(fixture.cases.length, 34);
});

for (const v of VARIANTS) {
  for (const c of fixture.cases) {
    Vectors(`${v.name}: ${c.name}`, () => {
      const pm = PortManager.create();
      const [first] = pm.portRange();
      const held: Reservation[] = [];
      const ephemeral = new Set<number>();
      c.ops.forEach((op, i) => {
        const res = toReservation(op, v);
        const where = `${c.name} op ${i} (${op.op} ${op.port} ${op.addr || '*'} [${op.flags.join(',')}] dev ${op.device})`;
        if (op.op === 'release') {
          pm.releasePort(res);
          const j = held.findIndex((h) => sameKey(h, res));
          if (j >= 0) held.splice(j, 1);
          return;
        }
        let port = -1;
        let err: unknown;
        try {
          port = pm.reservePort(res);
        } catch (e) {
          err = e;
        }
        if (op.expect === 'ok') {
          assert.is(err, undefined, `${where}: want ok, got ${String(err)}`);
          if (op.port === 0) {
            assert.ok(port >= first, `${where}: ephemeral ${port} below ${first}`);
            assert.not.ok(ephemeral.has(port), `${where}: ephemeral ${port} handed out twice`);
            ephemeral.add(port);
          } else {
            assert.is(port, op.port, where);
          }
          held.push({ ...res, port });
        } else {
          assert.is(op.expect, 'portInUse', `${where}: unknown expectation`);
          assert.instance(err, NetshardError, `${where}: want EADDRINUSE, got ok (port ${port})`);
          assert.is((err as NetshardError).code, 'EADDRINUSE', where);
        }
      });
      for (const h of held) pm.releasePort(h);
      assert.is(pm.entryCount(), 0, `${c.name}: rows left after releasing all: ${JSON.stringify(pm.snapshot())}`);
      assert.is(pm.stats().descriptors, 0);
    });
  }
}

/** The fixture's `ephemeral` testers by name; the range is [32000, 33000] as in TestPickEphemeralPort. */
const FIRST = 32000;
const TESTERS: Record<string, { test: (p: number) => boolean; want: number | 'noPortAvailable' | 'error' }> = {
  'none': { test: () => false, want: 'noPortAvailable' },
  'error': { test: () => { throw new NetshardError('ERR_NETSHARD_TEST', 'bad buffer'); }, want: 'error' },
  'only firstEphemeral+42': { test: (p) => p === FIRST + 42, want: FIRST + 42 },
  'only ports < firstEphemeral': { test: (p) => p < FIRST, want: 'noPortAvailable' },
};

for (const e of fixture.ephemeral) {
  if (e.tester === undefined) continue; // the closing note
  for (const picker of ['random', 'stable offset 0', 'stable offset 4294967295'] as const) {
    Vectors(`ephemeral (${picker}): ${e.name}`, () => {
      const t = TESTERS[e.tester ?? ''];
      if (t === undefined) throw new Error(`fixture tester '${e.tester}' is unknown`);
      const pm = PortManager.create({ portRange: [FIRST, 33000] });
      const pick = () => picker === 'random' ? pm.pickEphemeralPort(t.test)
        : pm.pickEphemeralPortStable(picker === 'stable offset 0' ? 0 : 0xffffffff, t.test);
      if (typeof t.want === 'number') {
        assert.is(pick(), t.want);
        return;
      }
      try {
        pick();
        assert.unreachable('want an error');
      } catch (err) {
        assert.instance(err, NetshardError);
        assert.is((err as NetshardError).code, t.want === 'error' ? 'ERR_NETSHARD_TEST' : 'ERR_NETSHARD_NO_PORT_AVAILABLE');
      }
    });
  }
}

Vectors.run();
