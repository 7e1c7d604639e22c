/**
 * Public surface of src/ports: the PortManager (gVisor's port reservation rules over a SharedArrayBuffer),
 * its reservation type and flags. Other folders import ports only through this file.
 */
export { PortManager, DEFAULT_FIRST_EPHEMERAL, DEFAULT_LAST_EPHEMERAL } from './port-manager.ts';
export type { PortManagerOptions, PortTableStats } from './port-manager.ts';
export type { Reservation, ReservationDestination } from './reservation.ts';
export type { PortTableEntry } from './table.ts';
export { pickEphemeralPortAt, NO_PORT } from './ephemeral.ts';
export type { PortTester } from './ephemeral.ts';
export {
  Flags, FLAG_MASK, MULTI_BIND_FLAG_MASK, FLAG_COUNTER_SIZE, effective,
  addRef, dropRef, totalRefs, flagRefs, allRefsHave, sharedFlags,
} from './flags.ts';
export type { Flag } from './flags.ts';
export { LOCK_TIMEOUT_MS } from './mutex.ts';
