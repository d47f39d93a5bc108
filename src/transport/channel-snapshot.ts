/**
 * ChannelSnapshot — every channel's (seq, epoch) as of one position of the broadcast ring,
 * handed by the main thread to a shard that (re)starts reading there (feed-attached). The
 * Sequencer writes it, the shard reads it: the layout is a contract between threads, so it
 * lives here rather than on either side.
 *
 * Three flat values instead of one small array per channel: structured-cloning a million
 * small arrays costs about a second of the main thread; this costs a tenth of that.
 * names[i] is the i-th name of `names` split on "\n" (channel names cannot contain it).
 */
export interface ChannelSnapshot {
  readonly names: string;
  readonly seqs: Float64Array;
  readonly epochs: Uint32Array;
}

/** Hands each channel of a snapshot to `each` (the shard's half of Sequencer.snapshot()). */
export function readSnapshot(s: ChannelSnapshot, each: (channel: string, seq: number, epoch: number) => void): void {
  if (s.seqs.length === 0) return;
  const names = s.names.split('\n');
  for (let i = 0; i < names.length; i++) each(names[i]!, s.seqs[i]!, s.epochs[i]!);
}
