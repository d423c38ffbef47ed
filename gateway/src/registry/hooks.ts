/**
 * A tiny typed listener list: how registry, audit and alert modules tell the lead's wiring (MQTT
 * config push, live stream, gRPC) that something happened. Listeners run synchronously in
 * registration order; one that throws is logged and does not stop the others.
 */
import type { Logger } from 'pino';

/** Subscribe/notify for one kind of notification carrying a `T`. */
export class Hook<T> {
  private readonly listeners = new Set<(value: T) => void>();

  constructor(
    private readonly name: string,
    private readonly log?: Logger,
  ) {}

  /** Call `listener` on every notification; returns the function that unsubscribes it. */
  on(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Number of listeners (for tests and diagnostics). */
  get size(): number {
    return this.listeners.size;
  }

  /** Notify every listener. */
  emit(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (err) {
        this.log?.error({ err, hook: this.name }, 'hook listener failed');
      }
    }
  }
}
