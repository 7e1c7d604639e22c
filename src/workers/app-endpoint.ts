/**
 * `AppEndpoint`: one app worker's member of a SO_REUSEPORT group in the coordinator's demuxer. The
 * demuxer picks it for a flow (gVisor's hash of the 4-tuple, so a flow always reaches the same
 * instance); `handlePacket` checks the datagram (length, checksum, as a UDP endpoint does) and copies
 * its addresses, ports and payload into the slot of the next record of the instance's rx ring
 * (`app-channel.ts`). Records are published in one batch at the end of the task (one `Atomics.store`
 * per pump pass, and one `Atomics.notify` only when the app asked for a wakeup).
 *
 * Thread: main (the demuxer's). `handlePacket`: no allocation, never throws.
 */
import {
  IPV4_PROTOCOL_NUMBER, UDP_HEADER_SIZE, UdpReason, copyView, flowHashIpv4Int32, flowHashIpv6Int32, validateUdp, verifyUdpChecksum,
  type TransportEndpoint, type TransportPacket,
} from '../tcpip/index.ts';
import { attachProducer, type RingProducer } from '../ring/index.ts';
import {
  APP_REC_FLOW, APP_REC_LENGTH, APP_REC_META, APP_REC_PORTS, APP_RECORD_SHIFT, APP_SLOT_HEADER, APP_SLOT_LOCAL, APP_SLOT_REMOTE,
  AppStat, type AppChannelBuffers,
} from './app-channel.ts';

/** Records reserved at a time while staging a batch. */
const RESERVE_STEP = 64;

/** The coordinator's end of one instance's rx ring, as a transport endpoint; see the file comment. */
export class AppEndpoint implements TransportEndpoint {
  /** The instance this endpoint feeds. */
  readonly instance: number;
  private readonly rx: RingProducer;
  private readonly records: Int32Array;
  private readonly slots: DataView;
  private readonly slotShift: number;
  private readonly maxPayload: number;
  private readonly stats: Float64Array;
  private readonly hashSeed: number;
  private staged = 0;
  private reserved = 0;
  private publishQueued = false;
  private open = true;
  private readonly publishTask = (): void => {
    this.publishQueued = false;
    this.publish();
  };

  /** Attaches the producer end of `channel`'s rx ring. Thread: main. Throws as `attachProducer`. */
  constructor(instance: number, channel: AppChannelBuffers, hashSeed: number) {
    this.instance = instance;
    this.rx = attachProducer(channel.rxRing);
    this.records = this.rx.records;
    this.slots = new DataView(channel.rxSlots);
    this.slotShift = Math.log2(channel.slotBytes);
    this.maxPayload = channel.slotBytes - APP_SLOT_HEADER;
    this.stats = new Float64Array(channel.stats);
    this.hashSeed = hashSeed;
  }

  /** Copies one datagram into the rx ring, or drops and counts it (see the file comment). Never throws. */
  handlePacket(pkt: TransportPacket): void {
    const stats = this.stats;
    if (!this.open) return;
    const view = pkt.view, at = pkt.transportOffset, ip = pkt.networkOffset;
    if (validateUdp(view, at, pkt.end) !== UdpReason.Ok) {
      stats[AppStat.malformed]!++;
      return;
    }
    const length = view.getUint16(at + 4);
    const v4 = pkt.networkProtocol === IPV4_PROTOCOL_NUMBER;
    if (!pkt.checksumValidated && !verifyUdpChecksum(view, pkt.networkProtocol, ip, at, length)) {
      stats[AppStat.checksumErrors]!++;
      return;
    }
    const size = length - UDP_HEADER_SIZE;
    if (size > this.maxPayload) {
      stats[AppStat.rxTooBig]!++;
      return;
    }
    if (this.staged === this.reserved) {
      this.reserved = this.rx.reserve(this.staged + RESERVE_STEP);
      if (this.staged === this.reserved) {
        this.rx.countDrops(1);
        stats[AppStat.rxRingDrops]!++;
        return;
      }
    }
    const w = this.rx.slot(this.staged);
    const base = (w >> APP_RECORD_SHIFT) << this.slotShift;
    const slots = this.slots;
    if (v4) {
      slots.setInt32(base + APP_SLOT_REMOTE, view.getInt32(ip + 12));
      slots.setInt32(base + APP_SLOT_LOCAL, view.getInt32(ip + 16));
    } else {
      copyView(view, ip + 8, slots, base + APP_SLOT_REMOTE, 16);
      copyView(view, ip + 24, slots, base + APP_SLOT_LOCAL, 16);
    }
    copyView(view, at + UDP_HEADER_SIZE, slots, base + APP_SLOT_HEADER, size);
    const records = this.records;
    records[w + APP_REC_LENGTH] = size;
    records[w + APP_REC_PORTS] = view.getUint16(at) | (view.getUint16(at + 2) << 16);
    records[w + APP_REC_META] = (v4 ? 4 : 6) | (pkt.nicId << 8);
    records[w + APP_REC_FLOW] = v4
      ? flowHashIpv4Int32(view, ip, 17, at, this.hashSeed)
      : flowHashIpv6Int32(view, ip, 17, at, this.hashSeed);
    this.staged++;
    stats[AppStat.delivered]!++;
    if (!this.publishQueued) {
      this.publishQueued = true;
      queueMicrotask(this.publishTask);
    }
  }

  /** Publishes the staged records (waking the app if it sleeps). Thread: main. */
  publish(): void {
    if (this.staged === 0) return;
    this.rx.publish(this.staged); // notifies the app's waitAsync itself when it asked
    this.staged = 0;
    this.reserved = 0;
  }

  /** Publishes what is staged and stops taking datagrams; detaches the producer end. Idempotent. */
  close(): void {
    if (!this.open) return;
    this.publish();
    this.open = false;
    this.rx.close();
  }
}
