/**
 * What both buses do the same way between a delivery and its handler: settle at most once, run at most
 * `concurrency` handlers at a time, nak with a back-off when a handler throws, keep unsettled deliveries alive
 * (`working`) while the handler — or whoever it handed the delivery to — still holds them, and on stop nak whatever
 * is left so another process takes it over at once.
 */
import type { ConsumeOptions, Delivery, DeliveryHandler } from "./bus.ts";

/** A delivery as a bus makes it: the settle primitives, and `working` to push the ack deadline back. */
export type RawDelivery = Omit<Delivery, "settled"> & { working(): void };

/**
 * Back-off before a message whose handler failed is delivered again: 1 s doubling to 60 s.
 * @example failureDelayMs(3) // 4000
 */
export function failureDelayMs(deliveries: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, deliveries - 1));
}

export type Dispatcher = {
  /** Whether a handler slot is free now. */
  free(): boolean;
  /** Resolves once a slot is free. */
  slot(): Promise<void>;
  /** Runs the handler for `raw` in a free slot (call after `slot()` or when `free()`). */
  start(raw: RawDelivery): void;
  /** Waits for running handlers, then naks every delivery still unsettled. */
  stop(): Promise<void>;
};

/**
 * A dispatcher for one consumption. `onSlotFreed` lets a push-style bus offer the next message.
 * @example const d = createDispatcher(handler, { concurrency: 8 }, 30_000); await d.slot(); d.start(raw);
 */
export function createDispatcher(handler: DeliveryHandler, options: ConsumeOptions, ackWaitMs: number, onSlotFreed: () => void = () => {}): Dispatcher {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const heartbeatMs = Math.max(50, Math.floor(ackWaitMs / 3));
  const running = new Set<Promise<void>>();
  /** Unsettled deliveries, each with the function that settles it. */
  const unsettled = new Map<RawDelivery, (f: () => void) => void>();
  let waiters: Array<() => void> = [];

  const release = () => {
    const next = waiters;
    waiters = [];
    for (const w of next) w();
    onSlotFreed();
  };

  // One heartbeat for all unsettled deliveries (a timer each costs more than the handler of a small message): each
  // tick pushes back the ack deadline of those that were already there at the tick before, so a delivery's first
  // `working` comes at most 2/3 of the ack wait after it arrived.
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let beforeLastTick = new Set<RawDelivery>();
  const beat = () => {
    for (const raw of beforeLastTick) if (unsettled.has(raw)) raw.working();
    beforeLastTick = new Set(unsettled.keys());
  };

  const track = (raw: RawDelivery): Delivery => {
    let done = false;
    if (heartbeat === undefined) {
      heartbeat = setInterval(beat, heartbeatMs);
      heartbeat.unref?.();
    }
    const settle = (f: () => void) => {
      if (done) return;
      done = true;
      unsettled.delete(raw);
      if (unsettled.size === 0) {
        clearInterval(heartbeat);
        heartbeat = undefined;
        beforeLastTick.clear();
      }
      f();
    };
    unsettled.set(raw, settle);
    return {
      subject: raw.subject,
      data: raw.data,
      seq: raw.seq,
      deliveries: raw.deliveries,
      storedAt: raw.storedAt,
      ack: () => settle(() => raw.ack()),
      nak: (delayMs) => settle(() => raw.nak(delayMs)),
      term: () => settle(() => raw.term()),
      settled: () => done,
      stored: () => raw.stored(),
    };
  };

  return {
    free: () => running.size < concurrency,
    async slot() {
      while (running.size >= concurrency) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    start(raw) {
      const delivery = track(raw);
      const run = (async () => {
        try {
          await handler(delivery);
        } catch (e) {
          if (!delivery.settled()) delivery.nak(failureDelayMs(delivery.deliveries));
          options.onError?.(e, delivery);
        }
      })().finally(() => {
        running.delete(run);
        release();
      });
      running.add(run);
    },
    async stop() {
      while (running.size > 0) await Promise.all([...running]);
      for (const [raw, settle] of [...unsettled]) settle(() => raw.nak(0));
    },
  };
}
