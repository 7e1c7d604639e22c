/**
 * The random reserve/release loop that several threads run at once on one PortManager, and the shared
 * "ground truth" log they keep. Used by concurrency.test.ts (main thread) and stress-worker.ts (workers).
 *
 * Truth log (Int32Array over its own SharedArrayBuffer):
 *   [0] READY  workers that attached and wait for GO      [1] GO  0 until the main thread starts everyone
 *   then PARTICIPANTS × SLOTS records of RECORD_WORDS words:
 *   [ STAMP | transport | port | flags | dev | addrId | destId | portSpecified ]
 *   STAMP is 0 while the slot holds nothing, else a per-participant grant number (odd: never 0).
 * A participant publishes a record only after reservePort returned (fields first, STAMP last) and clears
 * STAMP before it calls releasePort, so a published record is always a reservation the table holds.
 * After publishing, it reads every other published record and checks the pair with `pairAllowed` in both
 * orders (it cannot know which was granted first): if neither order is allowed, two threads hold
 * conflicting reservations at once. Of two overlapping records, the later to publish always sees the other.
 */
import type { PortManager, Reservation } from '../../src/ports/index.ts';
import { NetshardError } from '../../src/errors.ts';
import { IPV4_PROTOCOL_NUMBER as V4, IPV6_PROTOCOL_NUMBER as V6 } from '../../src/tcpip/protocols.ts';
import { pairAllowed, type ModelRes } from './model.ts';

export const PARTICIPANTS = 4; // 3 workers + the main thread
export const SLOTS = 4;
const RECORD_WORDS = 8;
const T_READY = 0;
const T_GO = 1;
const T_RECORDS = 2;
export const TRUTH_WORDS = T_RECORDS + PARTICIPANTS * SLOTS * RECORD_WORDS;
/** The ephemeral range of the stress table: two ports besides the explicit ones, so port 0 collides too. */
export const STRESS_RANGE: [number, number] = [6000, 6001];

/** Address choices by id; each with the networks it may go with. */
const ADDRS: { text: string; nets: number[] }[] = [
  { text: '', nets: [4] }, { text: '198.18.0.1', nets: [4] }, { text: '198.18.0.2', nets: [4] },
  { text: '', nets: [6] }, { text: '2001:2::1', nets: [6] }, { text: '', nets: [4, 6] },
];
/** Destination choices by id, per family; 0 = none. */
const DESTS: Record<number, { addr: string; port: number }[]> = {
  4: [{ addr: '', port: 0 }, { addr: '198.18.0.9', port: 80 }, { addr: '198.18.0.9', port: 81 }],
  6: [{ addr: '', port: 0 }, { addr: '2001:2::9', port: 80 }],
};

/** A seeded generator (mulberry32): same seed, same sequence of choices. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Choice { addrId: number; destId: number; transport: number; port: number; flags: number; dev: number }

function toModel(c: Choice): ModelRes {
  const a = ADDRS[c.addrId]!;
  const d = DESTS[a.nets[0]!]![c.destId]!;
  return { nets: a.nets, transport: c.transport, addr: a.text, port: c.port, flags: c.flags, dev: c.dev, destAddr: d.addr, destPort: d.port };
}

function toReservation(c: Choice): Reservation {
  const m = toModel(c);
  const r: Reservation = {
    networks: m.nets.map((n) => (n === 4 ? V4 : V6)), transport: m.transport, address: m.addr, port: m.port, flags: m.flags, bindToDevice: m.dev,
  };
  if (m.destAddr !== '') r.destination = { address: m.destAddr, port: m.destPort };
  return r;
}

function randomChoice(rand: () => number): Choice {
  const addrId = Math.floor(rand() * ADDRS.length);
  const a = ADDRS[addrId]!;
  // Destinations only with a specific address on one network (the PortManager refuses the rest).
  const dests = a.text !== '' ? DESTS[a.nets[0]!]!.length : 1;
  const port = [5000, 5001, 0][Math.floor(rand() * 3)]!;
  return {
    addrId, destId: Math.floor(rand() * dests), transport: rand() < 0.5 ? 6 : 17, port,
    flags: Math.floor(rand() * 8), dev: [0, 0, 1, 2][Math.floor(rand() * 4)]!,
  };
}

/** What one participant did. */
export interface StressResult {
  id: number;
  ops: number;
  grants: number;
  denials: number;
  releases: number;
  availabilityChecks: number;
  violations: string[];
}

/** Marks this worker ready and blocks until the main thread says go. Thread: a worker. */
export function waitForGo(truth: Int32Array): void {
  Atomics.add(truth, T_READY, 1);
  Atomics.notify(truth, T_READY);
  Atomics.wait(truth, T_GO, 0);
}

/** Returns how many workers are ready. */
export function readyCount(truth: Int32Array): number {
  return Atomics.load(truth, T_READY);
}

/** Lets every waiting worker start. */
export function go(truth: Int32Array): void {
  Atomics.store(truth, T_GO, 1);
  Atomics.notify(truth, T_GO);
}

function recordBase(participant: number, slot: number): number {
  return T_RECORDS + (participant * SLOTS + slot) * RECORD_WORDS;
}

/**
 * Runs random reserve/release/isPortAvailable operations on `pm` as `id` until `maxOps` or `ms` run out,
 * then releases what it still holds. Never throws for EADDRINUSE / no port: those are denials.
 */
export function runStress(pm: PortManager, truth: Int32Array, id: number, seed: number, maxOps: number, ms: number): StressResult {
  const rand = rng(seed);
  const held: ({ choice: Choice; res: Reservation; ps: boolean } | undefined)[] = new Array(SLOTS).fill(undefined);
  const result: StressResult = { id, ops: 0, grants: 0, denials: 0, releases: 0, availabilityChecks: 0, violations: [] };
  const deadline = Date.now() + ms;
  let stamp = 1;
  for (; result.ops < maxOps; result.ops++) {
    if ((result.ops & 63) === 0 && Date.now() >= deadline) break;
    const slot = Math.floor(rand() * SLOTS);
    const base = recordBase(id, slot);
    const h = held[slot];
    if (h !== undefined) {
      if (rand() < 0.3) {
        // While we hold h, a flag-less request for exactly h's key can never be available (lock-free read).
        result.availabilityChecks++;
        if (pm.isPortAvailable({ ...h.res, flags: 0 })) {
          result.violations.push(`isPortAvailable true for ${JSON.stringify(h.res)} with flags 0 while it is held`);
        }
        continue;
      }
      Atomics.store(truth, base, 0);
      pm.releasePort(h.res);
      held[slot] = undefined;
      result.releases++;
      continue;
    }
    const choice = randomChoice(rand);
    const request = toReservation(choice);
    let port: number;
    try {
      const reject = rand() < 0.1;
      port = reject ? pm.reservePort(request, () => rand() < 0.5) : pm.reservePort(request);
    } catch (err) {
      if (err instanceof NetshardError && (err.code === 'EADDRINUSE' || err.code === 'ERR_NETSHARD_NO_PORT_AVAILABLE')) {
        result.denials++;
        continue;
      }
      throw err;
    }
    const ps = choice.port !== 0;
    choice.port = port;
    held[slot] = { choice, res: { ...request, port }, ps };
    result.grants++;
    const fields = [choice.transport, port, choice.flags, choice.dev, choice.addrId, choice.destId, ps ? 1 : 0];
    for (let i = 0; i < fields.length; i++) Atomics.store(truth, base + 1 + i, fields[i]!);
    stamp += 2;
    Atomics.store(truth, base, stamp);
    checkAgainstOthers(truth, id, choice, ps, result);
  }
  for (let slot = 0; slot < SLOTS; slot++) {
    const h = held[slot];
    if (h === undefined) continue;
    Atomics.store(truth, recordBase(id, slot), 0);
    pm.releasePort(h.res);
    result.releases++;
  }
  return result;
}

function checkAgainstOthers(truth: Int32Array, id: number, mine: Choice, minePs: boolean, result: StressResult): void {
  const me = toModel(mine);
  for (let p = 0; p < PARTICIPANTS; p++) {
    if (p === id) continue;
    for (let s = 0; s < SLOTS; s++) {
      const base = recordBase(p, s);
      const stamp = Atomics.load(truth, base);
      if (stamp === 0) continue;
      const c: Choice = {
        transport: Atomics.load(truth, base + 1), port: Atomics.load(truth, base + 2), flags: Atomics.load(truth, base + 3),
        dev: Atomics.load(truth, base + 4), addrId: Atomics.load(truth, base + 5), destId: Atomics.load(truth, base + 6),
      };
      const otherPs = Atomics.load(truth, base + 7) === 1;
      if (Atomics.load(truth, base) !== stamp) continue; // changed while we read it: its owner checks its new one
      const other = toModel(c);
      if (!pairAllowed(other, me, minePs) && !pairAllowed(me, other, otherPs)) {
        result.violations.push(`participant ${id} holds ${JSON.stringify(me)} (ps ${minePs}) while participant ${p} holds ${JSON.stringify(other)} (ps ${otherPs})`);
      }
    }
  }
}
