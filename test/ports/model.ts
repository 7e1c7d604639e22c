/**
 * Independent models of gVisor's port rules for tests, written from REFERENCE-gvisor.md §1.3/§1.4
 * without calling the product:
 * - `MapModel`: gVisor's nested maps as they are (descriptor → address → device → destination → counts),
 *   with plain JS Maps and strings, to compare with the PortManager's flat shared table.
 * - `pairAllowed`: may `newcomer` be granted while `holder` alone is held? Availability only shrinks as
 *   holders are added, so in any set of simultaneous grants the later of every pair passed this test.
 * Reservations here are small plain records with string addresses ('' = wildcard).
 */

export interface ModelRes {
  /** 4 and/or 6. */
  nets: readonly number[];
  transport: number;
  addr: string;
  port: number;
  flags: number;
  dev: number;
  /** '' with destPort 0 = no destination. */
  destAddr: string;
  destPort: number;
}

const TCP = 6;
const TO = 4;

function shared(refs: readonly number[]): number {
  let f = 7;
  refs.forEach((n, i) => { if (n > 0) f &= i; });
  return f;
}

type Counters = number[];
type Dests = Map<string, Counters>; // key `${destAddr}|${destPort}`
type Devices = Map<number, Dests>;
type Addrs = Map<string, Devices>;

/** gVisor's intersectionFlags: the flags the newcomer may share with one device's destinations, and how many interact. */
function intersection(dests: Dests, r: ModelRes): [number, number] {
  let flags = 7;
  let count = 0;
  const mine = `${r.destAddr}|${r.destPort}`;
  for (const [d, refs] of dests) {
    const dAddr = d.split('|')[0];
    if (d === mine) { flags &= shared(refs); count++; }
    else if (dAddr === '' || r.destAddr === '') { flags &= ~TO | shared(refs); count++; }
  }
  return [flags & 7, count];
}

function devicesAvailable(dd: Devices, r: ModelRes, portSpecified: boolean): boolean {
  const fb = r.flags;
  const tcpRule = !portSpecified && r.transport === TCP;
  if (r.dev === 0) {
    let acc = 7;
    for (const dests of dd.values()) {
      const [f, c] = intersection(dests, r);
      if (c === 0) continue;
      acc &= f;
      if ((acc & fb) === 0) return false;
    }
    return !tcpRule;
  }
  let acc = 7;
  const d0 = dd.get(0);
  if (d0 !== undefined) {
    const [f, c] = intersection(d0, r);
    acc = f;
    if (c > 0 && ((acc & fb) === 0 || tcpRule)) return false;
  }
  const dn = dd.get(r.dev);
  if (dn !== undefined) {
    const [f, c] = intersection(dn, r);
    acc &= f;
    if (c > 0 && ((acc & fb) === 0 || tcpRule)) return false;
  }
  return true;
}

/** gVisor's PortManager as nested Maps (single-threaded reference). */
export class MapModel {
  readonly ports = new Map<string, Addrs>(); // key `${net}|${transport}|${port}`

  available(r: ModelRes, portSpecified = true): boolean {
    for (const net of r.nets) {
      const ad = this.ports.get(`${net}|${r.transport}|${r.port}`);
      if (ad === undefined) continue;
      if (r.addr === '') {
        for (const dd of ad.values()) if (!devicesAvailable(dd, r, portSpecified)) return false;
      } else {
        const any = ad.get('');
        if (any !== undefined && !devicesAvailable(any, r, portSpecified)) return false;
        const same = ad.get(r.addr);
        if (same !== undefined && !devicesAvailable(same, r, portSpecified)) return false;
      }
    }
    return true;
  }

  #counter(net: number, r: ModelRes): Counters {
    const pk = `${net}|${r.transport}|${r.port}`;
    let ad = this.ports.get(pk);
    if (ad === undefined) this.ports.set(pk, ad = new Map());
    let dd = ad.get(r.addr);
    if (dd === undefined) ad.set(r.addr, dd = new Map());
    let dests = dd.get(r.dev);
    if (dests === undefined) dd.set(r.dev, dests = new Map());
    const dk = `${r.destAddr}|${r.destPort}`;
    let refs = dests.get(dk);
    if (refs === undefined) dests.set(dk, refs = [0, 0, 0, 0, 0, 0, 0, 0]);
    return refs;
  }

  /** ReservePort with an explicit port: check all networks, then add in all. */
  reserve(r: ModelRes): boolean {
    if (!this.available(r, true)) return false;
    for (const net of r.nets) { const c = this.#counter(net, r); c[r.flags] = (c[r.flags] ?? 0) + 1; }
    return true;
  }

  /** ReserveTuple: add first, undo if an exact counter already held references sharing no flag. */
  reserveTuple(r: ModelRes): boolean {
    let undo = false;
    for (const net of r.nets) {
      const c = this.#counter(net, r);
      if (c.some((n) => n > 0) && (shared(c) & r.flags) === 0) undo = true;
      c[r.flags] = (c[r.flags] ?? 0) + 1;
    }
    if (undo) this.release(r);
    return !undo;
  }

  /** ReleasePort; like the PortManager (and unlike gVisor) a flag combination with no reference is left alone. */
  release(r: ModelRes): void {
    for (const net of r.nets) {
      const pk = `${net}|${r.transport}|${r.port}`;
      const ad = this.ports.get(pk);
      const dd = ad?.get(r.addr);
      const dests = dd?.get(r.dev);
      const dk = `${r.destAddr}|${r.destPort}`;
      const refs = dests?.get(dk);
      if (ad === undefined || dd === undefined || dests === undefined || refs === undefined) continue;
      if ((refs[r.flags] ?? 0) <= 0) continue;
      refs[r.flags] = (refs[r.flags] ?? 0) - 1;
      if (refs.some((n) => n > 0)) continue;
      dests.delete(dk);
      if (dests.size === 0) dd.delete(r.dev);
      if (dd.size === 0) ad.delete(r.addr);
      if (ad.size === 0) this.ports.delete(pk);
    }
  }

  /** Number of (net, port, addr, dev, dest) counters: the PortManager's rows. */
  rows(): number {
    let n = 0;
    for (const ad of this.ports.values()) for (const dd of ad.values()) for (const dests of dd.values()) n += dests.size;
    return n;
  }
}

/**
 * Returns true if `newcomer` may be granted while `holder` is the only reservation held, following the
 * §1.3 rules for one pair; `portSpecified` false means the newcomer asked for port 0.
 */
export function pairAllowed(holder: ModelRes, newcomer: ModelRes, portSpecified: boolean): boolean {
  if (holder.transport !== newcomer.transport || holder.port !== newcomer.port) return true;
  if (!holder.nets.some((n) => newcomer.nets.includes(n))) return true;
  if (newcomer.addr !== '' && holder.addr !== '' && holder.addr !== newcomer.addr) return true;
  const tcpRule = !portSpecified && newcomer.transport === TCP;
  const devicesMeet = newcomer.dev === 0 || holder.dev === 0 || holder.dev === newcomer.dev;
  if (!devicesMeet) return true;
  let flags: number;
  if (holder.destAddr === newcomer.destAddr && holder.destPort === newcomer.destPort) flags = holder.flags;
  else if (holder.destAddr === '' || newcomer.destAddr === '') flags = (~TO | holder.flags) & 7;
  else return !(tcpRule && newcomer.dev === 0); // no interaction, but a device-0 TCP port-0 pick avoids the address
  return (flags & newcomer.flags) !== 0 && !tcpRule;
}
