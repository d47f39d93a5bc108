/**
 * The published data: `{"t":<publish time, wall-clock ms>,"i":<index>,"p":"xxxx…"}`, padded
 * with `p` to exactly --size bytes of JSON. `t` and `i` come first and the keys are fixed, so
 * the load threads find them with a byte search (frame-decoder.ts). The server re-serialises
 * data, which keeps these values and this key order; `t` has three decimals (µs resolution),
 * well within a double's precision at today's epoch milliseconds.
 */
import { BenchUsageError } from './options.js';

let padding = '';

export function dataJson(index: number, tMs: number, size: number): string {
  const head = `{"t":${tMs.toFixed(3)},"i":${index},"p":"`;
  const pad = size - head.length - 2;
  if (pad < 0) throw new BenchUsageError(`--size ${size} is too small for message ${index} (needs ${head.length + 2} bytes)`);
  if (padding.length < pad) padding = 'x'.repeat(size); // built once per size; slices of it are cheap
  return `${head}${padding.slice(0, pad)}"}`;
}

/** Channel name of publish `index`: publishes go round-robin over the channels. */
export function channelOf(prefix: string, channels: number, index: number): string {
  return `${prefix}${index % channels}`;
}
