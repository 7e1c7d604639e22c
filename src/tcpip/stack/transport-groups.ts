/**
 * The two inner levels of the transport demuxer (gVisor `endpointsByNIC` and `multiPortEndpoint`): the
 * endpoints registered under one ID, grouped per NIC, and a group's admission rule.
 *
 * Admission (gVisor `multiPortEndpoint` + Linux's SO_REUSEPORT owner rule): a newcomer joins a non-empty
 * group only if it shares a MostRecent or LoadBalanced flag with every member (the group's flag counter
 * says which flags all members share), and, when it is LoadBalanced, only if every LoadBalanced member
 * has its owner. Checking all LoadBalanced members (not just "the group is LoadBalanced now") keeps the
 * rule when a group that was MostRecent-only turns LoadBalanced because its last MostRecent-only member
 * leaves.
 *
 * Thread: the demuxer's. `forNic` and reading `endpoints`/`mostRecent` are hot path; the rest is control path.
 */
import type { TransportEndpoint } from './transport-packet.ts';
import {
  effectiveFlags, FLAG_COUNTER_SIZE, REUSE_FLAG_LOAD_BALANCED, REUSE_FLAG_MOST_RECENT, sharedFlagsOf,
} from './transport-ports.ts';

/** Why a group refuses a newcomer. */
export const Admit = { Ok: 0, Flags: 1, Owner: 2 } as const;
export type Admit = (typeof Admit)[keyof typeof Admit];

/** Endpoints registered under one ID on one NIC (gVisor `multiPortEndpoint`). Never empty while stored. */
export class MultiPortEndpoint {
  /** Members in bind order: the newest last. */
  readonly endpoints: TransportEndpoint[] = [];
  /** The MostRecent|LoadBalanced bits each member registered with. */
  readonly bits: number[] = [];
  /** Each member's owner id. */
  readonly owners: number[] = [];
  /** Flag counter: refs[bits] members registered with exactly `bits`. */
  readonly refs = new Int32Array(FLAG_COUNTER_SIZE);
  /** True when unicast goes to the newest member (cached from the counter on every change). */
  mostRecent = false;

  /** Returns whether a member with `bits` and `owner` may join. */
  admits(bits: number, owner: number): Admit {
    if (this.endpoints.length === 0) return Admit.Ok;
    if ((sharedFlagsOf(this.refs) & bits) === 0) return Admit.Flags;
    if ((bits & REUSE_FLAG_LOAD_BALANCED) !== 0) {
      for (let i = 0; i < this.bits.length; i++) {
        if ((this.bits[i]! & REUSE_FLAG_LOAD_BALANCED) !== 0 && this.owners[i] !== owner) return Admit.Owner;
      }
    }
    return Admit.Ok;
  }

  /** Appends `endpoint` as the newest member. Precondition: `admits(bits, owner)` returned Ok. */
  add(endpoint: TransportEndpoint, bits: number, owner: number): void {
    this.endpoints.push(endpoint);
    this.bits.push(bits);
    this.owners.push(owner);
    this.refs[bits]!++;
    this.#update();
  }

  /** Removes the first occurrence of `endpoint`, keeping the others' order; false when absent. */
  remove(endpoint: TransportEndpoint): boolean {
    const i = this.endpoints.indexOf(endpoint);
    if (i < 0) return false;
    this.refs[this.bits[i]!]!--;
    this.endpoints.splice(i, 1);
    this.bits.splice(i, 1);
    this.owners.splice(i, 1);
    this.#update();
    return true;
  }

  #update(): void {
    this.mostRecent = (effectiveFlags(sharedFlagsOf(this.refs)) & REUSE_FLAG_MOST_RECENT) !== 0;
  }
}

/** The groups of one ID, per NIC (gVisor `endpointsByNIC`). Never empty while stored. */
export class EndpointsByNic {
  /** The group of endpoints not bound to a device (NIC 0). */
  any: MultiPortEndpoint | null = null;
  /** Groups of device-bound endpoints, by NIC id; null while there are none. */
  devices: Map<number, MultiPortEndpoint> | null = null;

  /** Returns the group a packet from `nicId` goes to: that NIC's, else NIC 0's, else null. Hot path. */
  forNic(nicId: number): MultiPortEndpoint | null {
    if (this.devices !== null) {
      const group = this.devices.get(nicId);
      if (group !== undefined) return group;
    }
    return this.any;
  }

  /** Returns the group of exactly `device` (0 = none), or null. */
  get(device: number): MultiPortEndpoint | null {
    if (device === 0) return this.any;
    return this.devices?.get(device) ?? null;
  }

  /** Returns the group of exactly `device`, making it when missing. */
  getOrAdd(device: number): MultiPortEndpoint {
    const found = this.get(device);
    if (found !== null) return found;
    const group = new MultiPortEndpoint();
    if (device === 0) this.any = group;
    else (this.devices ??= new Map()).set(device, group);
    return group;
  }

  /** Drops the group of `device` (empty by now); returns true when no group is left. */
  prune(device: number): boolean {
    if (device === 0) this.any = null;
    else if (this.devices !== null) {
      this.devices.delete(device);
      if (this.devices.size === 0) this.devices = null;
    }
    return this.any === null && this.devices === null;
  }
}
