/**
 * PacketBuffer: one packet inside a frame it does not own, in the shape of gVisor's `stack.PacketBuffer`,
 * but with offsets instead of copies or views per header.
 *
 * ```
 *  offset                  head                       dataOffset              dataOffset+dataSize
 *    │◄──── headroom ─────►│◄ link ►│◄ network ►│◄ transport ►│◄──────── data ────────►│
 *    │   (still free for   │        headers, pushed outbound │                        │
 *    │    pushes)          │        or consumed inbound      │                        │
 * ```
 * Outbound, a protocol writes the payload at `dataOffset`, then each layer calls `pushTransport(n)`,
 * `pushNetwork(n)`, `pushLink(n)` in that order: each moves `head` back by `n` into the headroom and
 * records the header there, so the frame to send is `[head, head + size)` with nothing copied.
 * Inbound, the frame starts as all data and each layer calls `consumeLink(n)`, `consumeNetwork(n)`,
 * `consumeTransport(n)` in that order: each records the header at the front of the data and advances
 * past it.
 *
 * Ownership: the frame belongs to whoever holds it (its pool, a ring, or one thread's hands); a
 * PacketBuffer only points into it. Keep one PacketBuffer per thread and `reset()` it per packet.
 * Thread: the one holding the frame. Hot path: no method allocates or throws; failures return false
 * and leave the buffer unchanged.
 */

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));

/** One packet's headers and data as offsets into a frame; re-point it per packet with `reset()`. */
export class PacketBuffer {
  /** The frame's memory as bytes (the same memory as `view`). */
  bytes: Uint8Array = EMPTY_BYTES;
  /** The frame's memory as a DataView, for header views. Frames live in a SharedArrayBuffer: keep the wide type. */
  view: DataView = EMPTY_VIEW;

  // Invariant: offset <= head <= dataStart <= dataEnd <= view.byteLength, and every recorded header lies
  // in [head, dataStart). A header that is not set has offset -1 and size 0.
  private reservedStart = 0;
  private head = 0;
  private dataStart = 0;
  private dataEnd = 0;
  private linkAt = -1;
  private linkSize = 0;
  private networkAt = -1;
  private networkSize = 0;
  private transportAt = -1;
  private transportSize = 0;

  /**
   * Points the buffer at a packet whose memory starts at `offset` in `bytes`/`view` (the same memory):
   * the first `reserved` bytes are headroom for outbound headers, followed by `dataSize` bytes of data
   * (a payload to send, or a received frame with `reserved` 0 or the pool's headroom). Forgets all
   * headers. Returns false, changing nothing, when the range does not fit in `view`.
   */
  reset(bytes: Uint8Array, view: DataView, offset: number, reserved: number, dataSize: number): boolean {
    if (offset < 0 || reserved < 0 || dataSize < 0 || offset + reserved + dataSize > view.byteLength) return false;
    this.bytes = bytes;
    this.view = view;
    this.reservedStart = offset;
    this.head = offset + reserved;
    this.dataStart = this.head;
    this.dataEnd = this.head + dataSize;
    this.linkAt = -1;
    this.linkSize = 0;
    this.networkAt = -1;
    this.networkSize = 0;
    this.transportAt = -1;
    this.transportSize = 0;
    return true;
  }

  /** Bytes still free in front of the outermost header for `push*()`. */
  get headroom(): number { return this.head - this.reservedStart; }
  /** Where the packet starts: the outermost header, or the data when there is none. */
  get offset(): number { return this.head; }
  /** The whole packet: headers plus data, in bytes. */
  get size(): number { return this.dataEnd - this.head; }
  /** All headers together, in bytes. */
  get headerSize(): number { return this.dataStart - this.head; }
  /** Where the data (payload) starts. */
  get dataOffset(): number { return this.dataStart; }
  /** The data (payload) size in bytes. */
  get dataSize(): number { return this.dataEnd - this.dataStart; }
  /** Where the link header starts, or -1 when none was pushed or consumed. */
  get linkHeaderOffset(): number { return this.linkAt; }
  /** The link header's size, 0 when none. */
  get linkHeaderSize(): number { return this.linkSize; }
  /** Where the network header starts, or -1. */
  get networkHeaderOffset(): number { return this.networkAt; }
  /** The network header's size, 0 when none. */
  get networkHeaderSize(): number { return this.networkSize; }
  /** Where the transport header starts, or -1. */
  get transportHeaderOffset(): number { return this.transportAt; }
  /** The transport header's size, 0 when none. */
  get transportHeaderSize(): number { return this.transportSize; }

  /**
   * Reserves `n` bytes in front of the data for the transport header and returns true. False when the
   * headroom is short or a transport, network or link header is already there (push inner layers first).
   */
  pushTransport(n: number): boolean {
    if (this.transportAt >= 0 || this.networkAt >= 0 || this.linkAt >= 0 || !this.canPush(n)) return false;
    this.head -= n;
    this.transportAt = this.head;
    this.transportSize = n;
    return true;
  }

  /** Reserves `n` bytes in front for the network header; false when short or a network/link header is there. */
  pushNetwork(n: number): boolean {
    if (this.networkAt >= 0 || this.linkAt >= 0 || !this.canPush(n)) return false;
    this.head -= n;
    this.networkAt = this.head;
    this.networkSize = n;
    return true;
  }

  /** Reserves `n` bytes in front for the link header; false when short or a link header is there. */
  pushLink(n: number): boolean {
    if (this.linkAt >= 0 || !this.canPush(n)) return false;
    this.head -= n;
    this.linkAt = this.head;
    this.linkSize = n;
    return true;
  }

  /** Records the first `n` data bytes as the link header and moves the data past it; false when truncated or not first. */
  consumeLink(n: number): boolean {
    if (this.linkAt >= 0 || this.networkAt >= 0 || this.transportAt >= 0 || !this.canConsume(n)) return false;
    this.linkAt = this.dataStart;
    this.linkSize = n;
    this.dataStart += n;
    return true;
  }

  /** Records the first `n` data bytes as the network header; false when truncated or a network/transport header is there. */
  consumeNetwork(n: number): boolean {
    if (this.networkAt >= 0 || this.transportAt >= 0 || !this.canConsume(n)) return false;
    this.networkAt = this.dataStart;
    this.networkSize = n;
    this.dataStart += n;
    return true;
  }

  /** Records the first `n` data bytes as the transport header; false when truncated or one is there. */
  consumeTransport(n: number): boolean {
    if (this.transportAt >= 0 || !this.canConsume(n)) return false;
    this.transportAt = this.dataStart;
    this.transportSize = n;
    this.dataStart += n;
    return true;
  }

  /**
   * Shortens the data to `n` bytes, dropping what follows (an Ethernet frame's padding after the IP
   * total length, as gVisor's `CapLength`). False, changing nothing, when `n` exceeds the data size.
   */
  capData(n: number): boolean {
    if (!(n >= 0) || n > this.dataEnd - this.dataStart) return false;
    this.dataEnd = this.dataStart + n;
    return true;
  }

  private canPush(n: number): boolean {
    return n >= 0 && n <= this.head - this.reservedStart;
  }

  private canConsume(n: number): boolean {
    return n >= 0 && n <= this.dataEnd - this.dataStart;
  }
}
