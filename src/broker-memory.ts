import type { Broker } from './broker.js';
import { ErrorCode } from './codes.js';
import { ShardcastError } from './errors.js';
import type { Fanout } from './fanout.js';
import { Sequencer } from './sequencer.js';

/** The single-machine broker: the main thread sequences and writes to the broadcast ring. */
export class MemoryBroker implements Broker {
  private readonly sequencer = new Sequencer();

  constructor(private readonly fanout: Fanout) {}

  publish(channels: readonly string[], data: string): Promise<readonly number[]> {
    try {
      return Promise.resolve(this.publishNow(channels, data));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Synchronous form, for ingresses on the main thread that want no promise per message. */
  publishNow(channels: readonly string[], data: string): readonly number[] {
    const seqs = channels.map((c) => this.sequencer.lastSeq(c) + 1);
    const delivery = this.fanout.deliver(channels, seqs, data);
    if (delivery === 'full') throw new ShardcastError(ErrorCode.Overloaded, 'broadcast ring is full; retry shortly');
    if (delivery === 'too-large') {
      throw new ShardcastError(ErrorCode.PayloadTooLarge, `${channels.length} channel(s) × this data exceed half the broadcast ring; publish to fewer channels at once or raise --ring-size`);
    }
    for (let i = 0; i < channels.length; i++) this.sequencer.commit(channels[i]!, seqs[i]!);
    return seqs;
  }

  snapshot(): Array<[string, number]> {
    return this.sequencer.snapshot();
  }

  async close(): Promise<void> {}
}
