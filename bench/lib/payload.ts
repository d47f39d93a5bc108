/**
 * The published message: `data` is exactly DATA_BYTES of JSON carrying the publish index `i`
 * and the publish time `t` (integer µs on the shared monotonic clock), padded with `p`.
 * Keys are short and fixed so delivery-scan.ts can find them with a byte search.
 */
export const DATA_BYTES = 128;

export function dataJson(index: number, tMicros: number): string {
  const t = Math.round(tMicros);
  const bare = `{"i":${index},"t":${t},"p":""}`;
  const pad = DATA_BYTES - bare.length;
  if (pad < 0) throw new Error(`index/timestamp too long for ${DATA_BYTES}-byte data`);
  return `{"i":${index},"t":${t},"p":"${'x'.repeat(pad)}"}`;
}

export function publishBody(channel: string, index: number, tMicros: number): string {
  return `{"channel":${JSON.stringify(channel)},"data":${dataJson(index, tMicros)}}`;
}
