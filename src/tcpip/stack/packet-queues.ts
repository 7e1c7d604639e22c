/**
 * Many FIFO queues of opaque non-negative numbers (frame indices) sharing one fixed pool of nodes, so
 * all queues together hold at most `capacity` packets: the packets waiting for neighbor resolution.
 *
 * ```
 *  list 0: head ─► node 4 ─► node 9 ─► -1      tail = 9, length 2
 *  list 1: head -1                               (empty)
 *  free:   node 0 ─► node 1 ─► … (singly linked through `next`)
 * ```
 * Thread: the owner. Hot path: `push`/`shift` never allocate or throw.
 */

/** FIFO queues over a shared node pool; see the file comment. */
export class PacketQueues {
  /** Most packets over all lists. */
  readonly capacity: number;
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly lengths: Int32Array;
  private readonly value: Float64Array;
  private readonly next: Int32Array;
  private free: number;

  /** Makes `lists` empty queues sharing `capacity` nodes. Control path (preconditions checked by the owner). */
  constructor(lists: number, capacity: number) {
    this.capacity = capacity;
    this.head = new Int32Array(lists).fill(-1);
    this.tail = new Int32Array(lists).fill(-1);
    this.lengths = new Int32Array(lists);
    this.value = new Float64Array(capacity);
    this.next = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.next[i] = i + 1 < capacity ? i + 1 : -1;
    this.free = capacity > 0 ? 0 : -1;
  }

  /** Returns how many packets wait in `list`. */
  length(list: number): number {
    return this.lengths[list]!;
  }

  /** Appends `packet` to `list`; returns false (nothing stored) when no node is free. */
  push(list: number, packet: number): boolean {
    const node = this.free;
    if (node < 0) return false;
    this.free = this.next[node]!;
    this.value[node] = packet;
    this.next[node] = -1;
    const last = this.tail[list]!;
    if (last < 0) this.head[list] = node; else this.next[last] = node;
    this.tail[list] = node;
    this.lengths[list]!++;
    return true;
  }

  /** Takes the oldest packet of `list`, or returns -1 when it is empty. */
  shift(list: number): number {
    const node = this.head[list]!;
    if (node < 0) return -1;
    const packet = this.value[node]!;
    const following = this.next[node]!;
    this.head[list] = following;
    if (following < 0) this.tail[list] = -1;
    this.lengths[list]!--;
    this.next[node] = this.free;
    this.free = node;
    return packet;
  }
}
