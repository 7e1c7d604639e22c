/**
 * The recvmmsg dispatcher: up to `batchSize` datagrams per recvmmsg, sockets only. gVisor's
 * `recvMMsgDispatcher` (REFERENCE-gvisor.md §2.2; gVisor reads 8 per call, runsc's default mode).
 *
 * Tables built once in SharedArrayBuffers and passed by their cached address (RUNTIME-FACTS.md: the
 * cheapest way measured). Per call only the iov_base of a slot whose frame changed is rewritten
 * (two u32 stores, Number math); the kernel writes straight into the pool's frames, no copy:
 * ```
 *  mmsghdr[i]  (64 B)  msg_iov ──► iovec[i * k]      k = 1, or 2 with vnetHeader:
 *                      msg_iovlen = k                 [ shared 10 B virtio-net scratch ][ frame + rxOffset ]
 *                      msg_len, msg_flags ◄── written by the kernel
 * ```
 * `MSG_TRUNC` is passed so `msg_len` is a datagram's real length: longer than the frame means dropped and
 * counted, never delivered half.
 *
 * On AF_PACKET sockets the dispatcher turns on PACKET_AUXDATA and gives each mmsghdr its own 64-byte
 * control buffer (one SharedArrayBuffer made at setup; only `msg_controllen`, which the kernel overwrites,
 * is reset per call). The kernel puts one `tpacket_auxdata` cmsg there per packet; its tp_status says
 * whether the sender's checksum is still partial (TP_STATUS_CSUMNOTREADY) or was verified
 * (TP_STATUS_CSUM_VALID): `RxChecksum` per packet, read with a DataView, no allocation.
 * ```
 *  control[i] (64 B)  cmsg_len u64 | cmsg_level SOL_PACKET | cmsg_type PACKET_AUXDATA | tp_status u32 | tp_len …
 * ```
 *
 * Thread: the owner (see `dispatcher.ts`). Hot path: no allocation, no throw.
 */
import { NetshardError } from '../errors.ts';
import {
  DispatcherCounter,
  FdDispatcherBase,
  RECEIVE_EOF,
  RxChecksum,
  VIRTIO_NET_HDR_SIZE,
  checkDispatcherOptions,
  prepareFd,
  type DispatchMode,
  type DispatcherOptions,
} from './dispatcher.ts';
import {
  AF_PACKET,
  CMSG_DATA,
  CMSG_LEVEL,
  CMSG_TYPE,
  EAGAIN,
  EINTR,
  EINVAL,
  MMSGHDR_CONTROL,
  MMSGHDR_CONTROLLEN,
  MMSGHDR_FLAGS,
  MMSGHDR_IOV,
  MMSGHDR_IOVLEN,
  MMSGHDR_LEN,
  MSG_DONTWAIT,
  MSG_TRUNC,
  POLLIN,
  SIZEOF_IOVEC,
  SIZEOF_MMSGHDR,
  PACKET_AUXDATA,
  SIZEOF_CMSGHDR,
  SIZEOF_TPACKET_AUXDATA,
  SOL_PACKET,
  TPACKET_AUXDATA_STATUS,
  TP_STATUS_CSUMNOTREADY,
  TP_STATUS_CSUM_VALID,
  addressOf,
  errnoError,
  pointerOf,
  recvmmsg,
  setsockoptInt,
  socketDomain,
  writeAddress,
} from './syscalls.ts';

/** Default datagrams per recvmmsg (bench/fdbased-receive.ts measured 8, 32 and 64; see README.md). */
export const DEFAULT_RECVMMSG_BATCH = 32;

const MMSG_WORDS = SIZEOF_MMSGHDR / 4;
const LEN_WORD = MMSGHDR_LEN / 4;
const FLAGS_WORD = MMSGHDR_FLAGS / 4;
const CONTROLLEN_WORD = MMSGHDR_CONTROLLEN / 4;
/**
 * Control bytes per message: CMSG_SPACE(sizeof tpacket_auxdata) is 40; 64 leaves room for one more small
 * cmsg someone else enabled on the socket (the walk below skips it).
 */
const CONTROL_BYTES = 64;

/** Receives a batch of datagrams per recvmmsg into the caller's frames. Create with `createRecvmmsgDispatcher`. */
export class RecvmmsgDispatcher extends FdDispatcherBase {
  readonly mode: DispatchMode = 'recvmmsg';
  private readonly mmsgWords: Uint32Array;
  private readonly mmsgAddress: bigint;
  private readonly iovWords: Uint32Array;
  /** iovecs per message: 1, or 2 with the virtio-net scratch first. */
  private readonly iovPerMessage: number;
  /** Frame each slot's iovec points at now (-1: none). */
  private readonly slotFrames: Int32Array;
  /** Keeps the scratch memory alive: the iovecs point into it. */
  private readonly scratch: Uint8Array;
  /** Whether the socket delivers PACKET_AUXDATA (AF_PACKET): then `control` holds one cmsg area per message. */
  readonly auxdata: boolean;
  /** The control buffers, `CONTROL_BYTES` per message; a 0-byte view when `auxdata` is off. */
  private readonly control: DataView;

  constructor(options: DispatcherOptions) {
    const o = checkDispatcherOptions(options, DEFAULT_RECVMMSG_BATCH);
    const info = prepareFd(o.fd);
    if (!info.isSocket) {
      throw new NetshardError('ENOTSOCK', `recvmmsg needs a socket; fd ${o.fd} is not one (use readv)`, { errno: 88, syscall: 'recvmmsg' });
    }
    super(o, info, addressOf(o.bytes), POLLIN);
    const batch = this.batchSize;
    this.iovPerMessage = this.vnetHeader ? 2 : 1;
    this.scratch = new Uint8Array(new SharedArrayBuffer(16));
    const scratchAddress = addressOf(this.scratch);
    this.mmsgWords = new Uint32Array(new SharedArrayBuffer(batch * SIZEOF_MMSGHDR));
    this.mmsgAddress = pointerOf(this.mmsgWords);
    this.iovWords = new Uint32Array(new SharedArrayBuffer(batch * this.iovPerMessage * SIZEOF_IOVEC));
    const iovAddress = addressOf(this.iovWords);
    this.slotFrames = new Int32Array(batch).fill(-1);
    for (let i = 0; i < batch; i++) {
      const m = i * MMSG_WORDS;
      writeAddress(this.mmsgWords, m + MMSGHDR_IOV / 4, iovAddress + i * this.iovPerMessage * SIZEOF_IOVEC);
      writeAddress(this.mmsgWords, m + MMSGHDR_IOVLEN / 4, this.iovPerMessage);
      let w = i * this.iovPerMessage * 4;
      if (this.vnetHeader) {
        writeAddress(this.iovWords, w, scratchAddress); // every message shares it: read and dropped
        writeAddress(this.iovWords, w + 2, VIRTIO_NET_HDR_SIZE);
        w += 4;
      }
      writeAddress(this.iovWords, w, this.baseAddress + this.rxOffset); // frame 0 until told otherwise
      writeAddress(this.iovWords, w + 2, this.capacity);
    }
    // AF_PACKET: ask for each packet's tpacket_auxdata (the checksum status) in a control buffer per message.
    this.auxdata = socketDomain(o.fd) === AF_PACKET;
    if (this.auxdata) {
      const r = setsockoptInt(o.fd, SOL_PACKET, PACKET_AUXDATA, 1);
      if (r < 0) {
        super.close();
        throw errnoError('setsockopt', r, `PACKET_AUXDATA (fd ${o.fd})`);
      }
      const control = new Uint8Array(new SharedArrayBuffer(batch * CONTROL_BYTES));
      this.control = new DataView(control.buffer);
      const controlAddress = addressOf(control);
      for (let i = 0; i < batch; i++) {
        writeAddress(this.mmsgWords, i * MMSG_WORDS + MMSGHDR_CONTROL / 4, controlAddress + i * CONTROL_BYTES);
        writeAddress(this.mmsgWords, i * MMSG_WORDS + CONTROLLEN_WORD, CONTROL_BYTES);
      }
    } else {
      this.control = new DataView(new ArrayBuffer(0));
    }
  }

  receive(frames: Int32Array, lengths: Int32Array, max: number, checksums?: Uint8Array): number {
    const n = this.batchLimit(frames, lengths, max, checksums);
    if (n <= 0) return 0;
    const iovPer = this.iovPerMessage;
    const frameWordOffset = this.vnetHeader ? 4 : 0;
    const auxdata = this.auxdata;
    for (let i = 0; i < n; i++) {
      const frame = frames[i] as number;
      if (frame !== this.slotFrames[i]) {
        if (frame < 0 || frame >= this.frameCount) return -EINVAL;
        writeAddress(this.iovWords, i * iovPer * 4 + frameWordOffset, this.baseAddress + frame * this.frameSize + this.rxOffset);
        this.slotFrames[i] = frame;
      }
      // The kernel wrote back how much control data it used: give every slot its whole buffer again
      // (the high half of the size_t stays 0).
      if (auxdata) this.mmsgWords[i * MMSG_WORDS + CONTROLLEN_WORD] = CONTROL_BYTES;
    }
    const v = this.counterValues;
    const r = recvmmsg(this.fd, this.mmsgAddress, n, MSG_DONTWAIT | MSG_TRUNC);
    if (r < 0) {
      if (r === -EAGAIN || r === -EINTR) return 0;
      v[DispatcherCounter.rxErrors]!++;
      return r;
    }
    const words = this.mmsgWords;
    const header = this.vnetHeader ? VIRTIO_NET_HDR_SIZE : 0;
    const capacity = this.capacity;
    let k = 0;
    let dropped = 0;
    let bytes = 0;
    let notReady = 0;
    let valid = 0;
    let eof = false;
    for (let i = 0; i < r; i++) {
      const m = i * MMSG_WORDS;
      const msgLength = words[m + LEN_WORD] as number;
      // At the end, recvmmsg fills every remaining slot with 0 bytes; a 0-byte message followed by data
      // was an empty message (dropped below), not the end.
      if (msgLength === 0 && this.zeroIsEof && (i + 1 === r || words[m + MMSG_WORDS + LEN_WORD] === 0)) { eof = true; break; }
      const length = msgLength - header;
      if (length <= 0) { v[DispatcherCounter.rxEmpty]!++; dropped++; continue; }
      if (length > capacity || ((words[m + FLAGS_WORD] as number) & MSG_TRUNC) !== 0) {
        v[DispatcherCounter.rxTruncated]!++;
        dropped++;
        continue;
      }
      if (k !== i) {
        // Keep filled frames first: swap this one with the first dropped one (the table still matches
        // slotFrames; the next call rewrites the slots whose frame changed).
        const t = frames[k] as number;
        frames[k] = frames[i] as number;
        frames[i] = t;
      }
      lengths[k] = length;
      const checksum = auxdata ? this.checksumOf(i) : RxChecksum.Unknown;
      if (checksum === RxChecksum.NotReady) notReady++;
      else if (checksum === RxChecksum.Valid) valid++;
      if (checksums !== undefined) checksums[k] = checksum;
      bytes += length;
      k++;
    }
    this.countBatch(k, bytes, dropped);
    if (notReady !== 0) v[DispatcherCounter.rxChecksumNotReady]! += notReady;
    if (valid !== 0) v[DispatcherCounter.rxChecksumValid]! += valid;
    // EOF after some packets: deliver them now; the next call reads 0 bytes again and reports the end.
    return k > 0 ? k : eof ? RECEIVE_EOF : 0;
  }

  /** Returns message `i`'s `RxChecksum` from its control buffer (what the kernel wrote back this call). */
  private checksumOf(i: number): RxChecksum {
    const used = this.mmsgWords[i * MMSG_WORDS + CONTROLLEN_WORD] as number;
    return auxdataChecksum(this.control, i * CONTROL_BYTES, used > CONTROL_BYTES ? CONTROL_BYTES : used);
  }
}

/**
 * Returns the `RxChecksum` of the `tpacket_auxdata` cmsg in `control[start, start + used)`, walking the
 * cmsgs (normally just that one); `Unknown` when there is none. Hot path: DataView reads only, no throw
 * (every read is proven inside `used` bytes first). Thread: any.
 */
export function auxdataChecksum(control: DataView, start: number, used: number): RxChecksum {
  let at = 0;
  while (at + SIZEOF_CMSGHDR <= used) {
    const length = control.getUint32(start + at, true); // cmsg_len is a size_t: its high half is 0 here
    if (length < SIZEOF_CMSGHDR || at + length > used) break;
    if (control.getInt32(start + at + CMSG_LEVEL, true) === SOL_PACKET && control.getInt32(start + at + CMSG_TYPE, true) === PACKET_AUXDATA &&
        length >= SIZEOF_CMSGHDR + SIZEOF_TPACKET_AUXDATA) {
      const status = control.getUint32(start + at + CMSG_DATA + TPACKET_AUXDATA_STATUS, true);
      // packet_recvmsg sets CSUMNOTREADY for a CHECKSUM_PARTIAL skb, else CSUM_VALID when verified.
      return (status & TP_STATUS_CSUMNOTREADY) !== 0 ? RxChecksum.NotReady
        : (status & TP_STATUS_CSUM_VALID) !== 0 ? RxChecksum.Valid : RxChecksum.Unknown;
    }
    at += (length + 7) & ~7; // CMSG_ALIGN
  }
  return RxChecksum.Unknown;
}

/**
 * Opens a recvmmsg dispatcher on socket `options.fd` (set non-blocking). Control path; throws ENOTSOCK
 * for a non-socket (use readv, as gVisor does) and on bad options.
 */
export function createRecvmmsgDispatcher(options: DispatcherOptions): RecvmmsgDispatcher {
  return new RecvmmsgDispatcher(options);
}
