/**
 * Emitter — a typed event emitter small enough to ship to browsers. Node's EventEmitter is a
 * built-in the browser lacks, and EventTarget loses the payload types; this keeps both sides.
 */
export type Listener<T> = (event: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) this.listeners.set(name, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(name, listener);
  }

  off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): void {
    this.listeners.get(name)?.delete(listener as Listener<never>);
  }

  /**
   * Calls every listener. A listener that throws must not break the client's bookkeeping
   * (the message was delivered; the seq is counted), so its error is rethrown on its own
   * stack, as a browser reports an event handler's error, instead of into the caller.
   */
  protected emit<K extends keyof Events>(name: K, event: Events[K]): void {
    for (const listener of this.listeners.get(name) ?? []) {
      try {
        (listener as Listener<Events[K]>)(event);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
