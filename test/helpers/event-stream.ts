/** A Server-Sent Events reader for tests: fetch() the stream, collect its events, abort it. */

export interface SseEvent {
  event: string;
  data: string;
}

export class EventStream {
  readonly events: SseEvent[] = [];
  private constructor(
    readonly status: number,
    private readonly abort: AbortController,
  ) {}

  static async open(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
    const abort = new AbortController();
    const res = await fetch(url, { headers, signal: abort.signal });
    const stream = new EventStream(res.status, abort);
    if (res.body === null) return stream;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = (await reader.read()) as { value?: Uint8Array; done: boolean };
          if (done) return;
          buffered += decoder.decode(value, { stream: true });
          let end: number;
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            const block = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event !== undefined && data !== undefined) stream.events.push({ event, data });
          }
        }
      } catch {
        // aborted (close()) or the server went away: the events so far stay readable
      }
    })();
    return stream;
  }

  /** The data of every event named `event`, parsed. */
  all<T>(event: string): T[] {
    return this.events.filter((e) => e.event === event).map((e) => JSON.parse(e.data) as T);
  }

  close(): void {
    this.abort.abort();
  }
}
