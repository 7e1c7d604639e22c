/** What bench/ports-reserve.ts and its worker share: the reservations each thread uses and the pair loop. */
import type { PortManager, Reservation } from '../src/ports/index.ts';
import { IPV4_PROTOCOL_NUMBER } from '../src/tcpip/protocols.ts';

/** Control words: GO (round number, -1 = quit), DONE (workers finished this round), ERRORS. */
export const GO = 0;
export const DONE = 1;
export const ERRORS = 2;
/** Distinct reservations a thread cycles through: 1024 ports on its own address, UDP, no flags. */
export const KEYS = 1024;

/** Returns thread `id`'s reservations: address 198.18.<id>.1, ports 20000..21023 (threads never conflict). */
export function reservationsFor(id: number): Reservation[] {
  const list: Reservation[] = [];
  for (let i = 0; i < KEYS; i++) {
    list.push({ networks: [IPV4_PROTOCOL_NUMBER], transport: 17, address: `198.18.${id}.1`, port: 20000 + i, flags: 0 });
  }
  return list;
}

/** Reserves and releases `pairs` times, cycling through `list`. Throws if a reservation is refused. */
export function runPairs(pm: PortManager, list: readonly Reservation[], pairs: number): void {
  for (let i = 0; i < pairs; i++) {
    const r = list[i % KEYS]!;
    pm.reservePort(r);
    pm.releasePort(r);
  }
}
