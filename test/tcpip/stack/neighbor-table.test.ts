import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NetshardError } from '../../../src/errors.ts';
import {
  NEIGHBOR_CREATE, NEIGHBOR_OVERRIDE, NEIGHBOR_SOLICITED, NeighborCounter, NeighborLookup, NeighborState, NeighborTable,
  NeighborUpdate, type NeighborOptions,
} from '../../../src/tcpip/stack/neighbor-table.ts';
import { toHex, viewOf } from '../../helpers/hex.ts';
import { ip4, ip6, mac } from './fixtures.ts';

const Neighbors = suite('tcpip/stack/neighbor-table');

const GW = ip4('198.18.1.2');
const MAC_B = viewOf(mac('02:00:00:00:01:01'));
const MAC_C = viewOf(mac('02:00:00:00:01:0c'));
const OPTS: NeighborOptions = {
  retransmitMs: 1000, maxMulticastSolicit: 3, maxUnicastSolicit: 2, reachableMs: 30000,
  delayFirstProbeMs: 5000, failedHoldMs: 5000, staleMs: 60000, maxQueuePerNeighbor: 3, maxQueuedPackets: 5,
};

function linkOf(t: NeighborTable, e: number): string {
  const at = t.linkAddressOffset(e);
  return toHex(new Uint8Array(t.linkView.buffer, at, 6));
}

function drain(t: NeighborTable, e: number): number[] {
  const out: number[] = [];
  for (let p = t.dequeue(e); p >= 0; p = t.dequeue(e)) out.push(p);
  return out;
}

Neighbors('miss → INCOMPLETE, queue, solicited reply → REACHABLE, queue drains in order', () => {
  const t = new NeighborTable(4, OPTS);
  assert.is(t.resolveIpv4(2, GW, 0), NeighborLookup.PendingSolicit);
  const e = t.entry;
  assert.is(t.stateOf(e), NeighborState.Incomplete);
  assert.is(t.resolveIpv4(2, GW, 10), NeighborLookup.Pending, 'no second request within retransmitMs');
  assert.is(t.enqueue(e, 100), -1);
  assert.is(t.enqueue(e, 101), -1);
  assert.is(t.updateIpv4(2, GW, MAC_B, 0, NEIGHBOR_SOLICITED | NEIGHBOR_OVERRIDE, 20), NeighborUpdate.Resolved);
  assert.is(t.entry, e);
  assert.is(t.stateOf(e), NeighborState.Reachable);
  assert.is(linkOf(t, e), '020000000101');
  assert.equal(drain(t, e), [100, 101]);
  assert.is(t.resolveIpv4(2, GW, 30), NeighborLookup.Resolved);
  assert.is(t.counters[NeighborCounter.Resolutions], 1);
  assert.is(t.counters[NeighborCounter.Queued], 2);
});

Neighbors('the same address on two NICs is two entries', () => {
  const t = new NeighborTable(4, OPTS);
  t.resolveIpv4(1, GW, 0);
  const e1 = t.entry;
  t.resolveIpv4(2, GW, 0);
  assert.is.not(t.entry, e1);
  assert.is(t.findIpv4(1, GW), e1);
  assert.is(t.findIpv4(3, GW), -1);
});

Neighbors('queue bounds: per neighbor the oldest goes back; globally the newcomer does', () => {
  const t = new NeighborTable(4, OPTS); // 3 per neighbor, 5 in all
  t.resolveIpv4(2, GW, 0);
  const a = t.entry;
  assert.equal([t.enqueue(a, 1), t.enqueue(a, 2), t.enqueue(a, 3)], [-1, -1, -1]);
  assert.is(t.enqueue(a, 4), 1, 'full: the oldest (1) is handed back, 4 is queued');
  t.resolveIpv4(2, ip4('198.18.1.3'), 0);
  const b = t.entry;
  assert.equal([t.enqueue(b, 10), t.enqueue(b, 11)], [-1, -1]);
  assert.is(t.enqueue(b, 12), 12, 'no slot left anywhere: the newcomer goes back');
  assert.is(t.queuedOf(a), 3);
  assert.is(t.queuedOf(b), 2);
  assert.is(t.counters[NeighborCounter.QueueDrops], 2);
  assert.equal(drain(t, a), [2, 3, 4]);
  assert.is(t.enqueue(b, 13), -1, 'slots are reused');
  assert.equal(drain(t, b), [10, 11, 13]);
});

Neighbors('a resolved entry queues nothing (the packet comes back)', () => {
  const t = new NeighborTable(4, OPTS);
  t.resolveIpv4(2, GW, 0);
  t.updateIpv4(2, GW, MAC_B, 0, NEIGHBOR_SOLICITED, 0);
  assert.is(t.enqueue(t.entry, 7), 7);
});

Neighbors('tick: solicits every retransmitMs, then fails and hands back what waited', () => {
  const t = new NeighborTable(4, OPTS);
  t.resolveIpv4(2, GW, 0); // solicit 1 sent by the caller
  const e = t.entry;
  t.enqueue(e, 42);
  t.enqueue(e, 43);
  assert.is(t.tick(999), 0);
  assert.is(t.tick(1000), 1);
  assert.equal([...t.solicitEntries.subarray(0, t.solicitCount)], [e]); // solicit 2
  assert.is(t.tick(2000), 1); // solicit 3
  assert.is(t.tick(3000), 1);
  assert.is(t.solicitCount, 0);
  assert.equal([...t.failedEntries.subarray(0, t.failedCount)], [e]);
  assert.is(t.stateOf(e), NeighborState.Failed);
  assert.equal(drain(t, e), [42, 43]);
  assert.is(t.resolveIpv4(2, GW, 4000), NeighborLookup.Failed, 'held for failedHoldMs');
  assert.is(t.resolveIpv4(2, GW, 8000), NeighborLookup.PendingSolicit, 'then resolvable again');
  assert.is(t.counters[NeighborCounter.Failures], 1);
  assert.is(t.counters[NeighborCounter.Solicits], 4);
});

Neighbors('lazy: a lookup past the last solicit fails the entry itself', () => {
  const t = new NeighborTable(4, OPTS);
  t.resolveIpv4(2, GW, 0);
  const e = t.entry;
  t.enqueue(e, 9);
  assert.is(t.resolveIpv4(2, GW, 1000), NeighborLookup.PendingSolicit);
  assert.is(t.resolveIpv4(2, GW, 2000), NeighborLookup.PendingSolicit);
  assert.is(t.resolveIpv4(2, GW, 3000), NeighborLookup.Failed);
  assert.equal(drain(t, e), [9]);
  assert.is(t.tick(9000), 0);
  assert.is(t.findIpv4(2, GW), -1, 'tick removed it after the hold');
});

Neighbors('REACHABLE → STALE after reachableMs; used STALE entries are probed, then resolved afresh', () => {
  const t = new NeighborTable(4, OPTS);
  t.resolveIpv4(2, GW, 0);
  t.updateIpv4(2, GW, MAC_B, 0, NEIGHBOR_SOLICITED, 0);
  const e = t.entry;
  assert.is(t.resolveIpv4(2, GW, 29999), NeighborLookup.Resolved);
  assert.is(t.stateOf(e), NeighborState.Reachable);
  assert.is(t.resolveIpv4(2, GW, 30000), NeighborLookup.Resolved);
  assert.is(t.stateOf(e), NeighborState.Stale);
  assert.is(t.resolveIpv4(2, GW, 34999), NeighborLookup.Resolved, 'delayFirstProbeMs not over');
  assert.is(t.resolveIpv4(2, GW, 35000), NeighborLookup.ResolvedProbe);
  assert.is(t.resolveIpv4(2, GW, 35500), NeighborLookup.Resolved);
  assert.is(t.resolveIpv4(2, GW, 36000), NeighborLookup.ResolvedProbe);
  assert.is(t.resolveIpv4(2, GW, 37000), NeighborLookup.PendingSolicit, 'maxUnicastSolicit (2) probes unanswered');
  assert.is(t.stateOf(e), NeighborState.Incomplete);
  assert.is(t.updateIpv4(2, GW, MAC_B, 0, NEIGHBOR_SOLICITED, 37100), NeighborUpdate.Resolved);
});

Neighbors('a probe answered keeps the entry REACHABLE', () => {
  const t = new NeighborTable(4, OPTS);
  t.resolveIpv4(2, GW, 0);
  t.updateIpv4(2, GW, MAC_B, 0, NEIGHBOR_SOLICITED, 0);
  const e = t.entry;
  t.resolveIpv4(2, GW, 30000);
  assert.is(t.resolveIpv4(2, GW, 35000), NeighborLookup.ResolvedProbe);
  assert.is(t.updateIpv4(2, GW, MAC_B, 0, NEIGHBOR_SOLICITED, 35001), NeighborUpdate.Updated);
  assert.is(t.stateOf(e), NeighborState.Reachable);
  assert.is(t.resolveIpv4(2, GW, 40000), NeighborLookup.Resolved);
});

for (const c of [
  { name: 'no entry, no CREATE: ignored', setup: 'none', flags: NEIGHBOR_OVERRIDE, link: MAC_B, want: NeighborUpdate.Ignored, state: -1, mac: '' },
  { name: 'no entry, CREATE (a request for us): STALE', setup: 'none', flags: NEIGHBOR_CREATE | NEIGHBOR_OVERRIDE, link: MAC_B, want: NeighborUpdate.Created, state: NeighborState.Stale, mac: '020000000101' },
  { name: 'REACHABLE, other MAC, no override (NA O=0): STALE, address kept', setup: 'reachable', flags: 0, link: MAC_C, want: NeighborUpdate.Updated, state: NeighborState.Stale, mac: '020000000101' },
  { name: 'REACHABLE, other MAC, override, unsolicited: replaced, STALE', setup: 'reachable', flags: NEIGHBOR_OVERRIDE, link: MAC_C, want: NeighborUpdate.Updated, state: NeighborState.Stale, mac: '02000000010c' },
  { name: 'STALE, same MAC, solicited: REACHABLE', setup: 'stale', flags: NEIGHBOR_SOLICITED, link: MAC_B, want: NeighborUpdate.Updated, state: NeighborState.Reachable, mac: '020000000101' },
  { name: 'STALE, other MAC, no override: ignored', setup: 'stale', flags: NEIGHBOR_SOLICITED, link: MAC_C, want: NeighborUpdate.Ignored, state: NeighborState.Stale, mac: '020000000101' },
  { name: 'STALE, same MAC, unsolicited: nothing to do', setup: 'stale', flags: NEIGHBOR_OVERRIDE, link: MAC_B, want: NeighborUpdate.Ignored, state: NeighborState.Stale, mac: '020000000101' },
  { name: 'INCOMPLETE, unsolicited: resolved as STALE', setup: 'incomplete', flags: NEIGHBOR_OVERRIDE, link: MAC_C, want: NeighborUpdate.Resolved, state: NeighborState.Stale, mac: '02000000010c' },
  { name: 'STATIC never changes', setup: 'static', flags: NEIGHBOR_SOLICITED | NEIGHBOR_OVERRIDE, link: MAC_C, want: NeighborUpdate.Ignored, state: NeighborState.Static, mac: '020000000101' },
]) {
  Neighbors(`update (RFC 826 merge, RFC 4861 §7.2.5): ${c.name}`, () => {
    const t = new NeighborTable(4, OPTS);
    if (c.setup !== 'none') {
      if (c.setup === 'static') t.setStaticIpv4(2, GW, mac('02:00:00:00:01:01'));
      else {
        t.resolveIpv4(2, GW, 0);
        if (c.setup === 'reachable') t.updateIpv4(2, GW, MAC_B, 0, NEIGHBOR_SOLICITED, 0);
        if (c.setup === 'stale') t.updateIpv4(2, GW, MAC_B, 0, NEIGHBOR_OVERRIDE, 0);
      }
    }
    assert.is(t.updateIpv4(2, GW, c.link, 0, c.flags, 10), c.want);
    const e = t.findIpv4(2, GW);
    if (c.state < 0) { assert.is(e, -1); return; }
    assert.is(t.stateOf(e), c.state);
    assert.is(linkOf(t, e), c.mac);
  });
}

Neighbors('static entries resolve at once and a static entry over a waiting one reports Resolved', () => {
  const t = new NeighborTable(4, OPTS);
  assert.is(t.setStaticIpv4(2, GW, mac('02:00:00:00:01:01')), NeighborUpdate.Created);
  assert.is(t.resolveIpv4(2, GW, 1e9), NeighborLookup.Resolved);
  t.resolveIpv4(2, ip4('198.18.1.9'), 0);
  t.enqueue(t.entry, 5);
  assert.is(t.setStaticIpv4(2, ip4('198.18.1.9'), mac('02:00:00:00:01:09')), NeighborUpdate.Resolved);
  assert.equal(drain(t, t.entry), [5]);
  assert.throws(() => t.setStaticIpv4(2, GW, new Uint8Array(5)), (e: NetshardError) => e.code === 'ERR_INVALID_ARG_VALUE');
});

Neighbors('capacity: the least recently used FAILED/STALE/REACHABLE entry is evicted, never INCOMPLETE or STATIC', () => {
  const t = new NeighborTable(4, { ...OPTS, capacity: 4 });
  t.setStaticIpv4(1, ip4('198.18.0.1'), mac('02:00:00:00:00:01'));
  for (const [i, at] of [[2, 10], [3, 20]] as const) {
    t.resolveIpv4(1, ip4(`198.18.0.${i}`), at);
    t.updateIpv4(1, ip4(`198.18.0.${i}`), MAC_B, 0, NEIGHBOR_SOLICITED, at);
  }
  t.resolveIpv4(1, ip4('198.18.0.4'), 30); // INCOMPLETE
  t.resolveIpv4(1, ip4('198.18.0.2'), 40); // used again: now .3 is the least recently used
  assert.is(t.resolveIpv4(1, ip4('198.18.0.5'), 50), NeighborLookup.PendingSolicit);
  assert.is(t.findIpv4(1, ip4('198.18.0.3')), -1, '.3 evicted');
  assert.ok(t.findIpv4(1, ip4('198.18.0.2')) >= 0);
  assert.is(t.counters[NeighborCounter.Evictions], 1);
  t.resolveIpv4(1, ip4('198.18.0.6'), 60); // evicts .2, the last REACHABLE
  assert.is(t.resolveIpv4(1, ip4('198.18.0.7'), 70), NeighborLookup.Full, 'only STATIC and INCOMPLETE left');
  assert.is(t.entry, -1);
  assert.is(t.counters[NeighborCounter.Full], 1);
  assert.is(t.size, 4);
});

Neighbors('tick removes STALE entries unused for staleMs and turns expired REACHABLE ones STALE', () => {
  const t = new NeighborTable(4, OPTS);
  t.updateIpv4(1, GW, MAC_B, 0, NEIGHBOR_CREATE, 0); // STALE, last used 0
  t.resolveIpv4(1, ip4('198.18.1.3'), 0);
  t.updateIpv4(1, ip4('198.18.1.3'), MAC_C, 0, NEIGHBOR_SOLICITED, 0);
  t.tick(30000);
  assert.is(t.stateOf(t.findIpv4(1, ip4('198.18.1.3'))), NeighborState.Stale);
  assert.is(t.resolveIpv4(1, ip4('198.18.1.3'), 40000), NeighborLookup.Resolved); // used: stays past 60000
  t.tick(60000);
  assert.is(t.findIpv4(1, GW), -1);
  assert.is(t.size, 1);
});

Neighbors('IPv6 entries are keyed by 16 bytes read at an offset', () => {
  const t = new NeighborTable(6, OPTS);
  const bytes = new Uint8Array(64);
  bytes.set(ip6('2001:2:0:1::2'), 3);
  bytes.set(ip6('2001:2:0:1::3'), 21);
  const view = viewOf(bytes);
  assert.is(t.resolveIpv6(2, view, 3, 0), NeighborLookup.PendingSolicit);
  const e = t.entry;
  assert.is(t.resolveIpv6(2, view, 21, 0), NeighborLookup.PendingSolicit);
  assert.is.not(t.entry, e);
  assert.is(t.updateIpv6(2, view, 3, MAC_B, 0, NEIGHBOR_SOLICITED | NEIGHBOR_OVERRIDE, 5), NeighborUpdate.Resolved);
  assert.is(t.entry, e);
  assert.is(toHex(new Uint8Array(t.keyView.buffer, t.keyOffset(e), 16)), toHex(ip6('2001:2:0:1::2')));
  assert.is(t.resolveIpv6(2, view, 3, 6), NeighborLookup.Resolved);
  assert.is(t.resolveIpv6(2, view, 21, 6), NeighborLookup.Pending);
  assert.is(t.setStaticIpv6(1, ip6('2001:2::1'), mac('02:00:00:00:00:01')), NeighborUpdate.Created);
  assert.is(t.findIpv6(1, viewOf(ip6('2001:2::1')), 0), t.entry);
});

Neighbors('hash index: random inserts and removals agree with a Map (backward-shift deletion)', () => {
  let seed = 12345;
  const rand = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
  const t = new NeighborTable(4, { ...OPTS, capacity: 64, maxQueuedPackets: 0, maxQueuePerNeighbor: 0 });
  const reference = new Map<string, number>();
  for (let step = 0; step < 20000; step++) {
    const nic = 1 + rand(2), address = ip4('198.18.0.0') + rand(100);
    const key = `${nic}/${address}`;
    if (rand(3) === 0 && reference.has(key)) {
      assert.ok(t.remove(reference.get(key)!));
      reference.delete(key);
    } else if (!reference.has(key) && reference.size < 64) {
      assert.is(t.updateIpv4(nic, address, MAC_B, 0, NEIGHBOR_CREATE, step), NeighborUpdate.Created);
      reference.set(key, t.entry);
    }
    if (step % 97 === 0) {
      for (const [k, e] of reference) {
        const [n, a] = k.split('/').map(Number) as [number, number];
        assert.is(t.findIpv4(n, a), e, `step ${step}: ${k}`);
      }
      assert.is(t.size, reference.size);
    }
  }
});

Neighbors('options are validated', () => {
  assert.throws(() => new NeighborTable(5 as 4), (e: NetshardError) => e.code === 'ERR_INVALID_ARG_VALUE');
  assert.throws(() => new NeighborTable(4, { capacity: 0 }), (e: NetshardError) => e.code === 'ERR_OUT_OF_RANGE');
  assert.throws(() => new NeighborTable(4, { retries: 3 } as never), (e: NetshardError) => e.code === 'ERR_INVALID_ARG_VALUE');
  assert.throws(() => new NeighborTable(4, { counters: new Float64Array(2) }), (e: NetshardError) => e.code === 'ERR_INVALID_ARG_TYPE');
});

Neighbors.run();
