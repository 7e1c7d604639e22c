/**
 * A token bucket for ICMP errors, in the shape of Linux's global ICMP limit (`icmp_global_allow()`:
 * `net.ipv4.icmp_msgs_per_sec` = 1000 tokens a second, at most `icmp_msgs_burst` = 50 saved up). Each
 * error costs one token; with none left the error is not sent and `drops` counts it. Echo replies are
 * not limited, as Linux's default `icmp_ratemask` leaves them out. The bucket is global to its owner,
 * not per destination (Linux adds a per-peer limit on top; netshard does not).
 *
 * Time comes in as `now` (ms) from the owner's injected clock; the bucket refills lazily on use.
 * Thread: the owner. `allow` never allocates or throws.
 */
import { validateInteger, validateObject } from '../../validate.ts';

/** What `TokenBucket` takes. */
export interface TokenBucketOptions {
  /** Tokens added per second (Linux `icmp_msgs_per_sec`, default 1000); 0 refuses everything after the burst. */
  ratePerSecond?: number;
  /** Most tokens held, and the initial fill (Linux `icmp_msgs_burst`, default 50). */
  burst?: number;
}

/** Default tokens per second (Linux `net.ipv4.icmp_msgs_per_sec`). */
export const DEFAULT_ICMP_RATE_PER_SECOND = 1000;
/** Default bucket size (Linux `net.ipv4.icmp_msgs_burst`). */
export const DEFAULT_ICMP_BURST = 50;

/** A token bucket; see the file comment. */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Requests refused for want of a token. */
  drops = 0;
  private tokens: number;
  private last = Number.NaN;

  /** Makes a full bucket. Throws ERR_INVALID_ARG_* for bad options. Control path. */
  constructor(options: TokenBucketOptions = {}) {
    validateObject(options, 'options', ['ratePerSecond', 'burst']);
    const rate = options.ratePerSecond ?? DEFAULT_ICMP_RATE_PER_SECOND;
    const burst = options.burst ?? DEFAULT_ICMP_BURST;
    validateInteger(rate, 'options.ratePerSecond', 0, 1e9);
    validateInteger(burst, 'options.burst', 1, 1e9);
    this.ratePerSecond = rate;
    this.burst = burst;
    this.tokens = burst;
  }

  /**
   * Takes a token at time `now` (ms) and returns true, or returns false and counts a drop when the
   * bucket is empty. A clock that goes backwards adds nothing. Allocation: none.
   */
  allow(now: number): boolean {
    const last = this.last;
    if (now > last) this.tokens = Math.min(this.burst, this.tokens + ((now - last) * this.ratePerSecond) / 1000);
    if (!(now <= last)) this.last = now; // also sets the first time (last is NaN)
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.drops++;
    return false;
  }

  /** Returns the tokens available at the last `allow` call (fractional while refilling). */
  get available(): number {
    return this.tokens;
  }
}
