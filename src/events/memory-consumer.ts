/**
 * A durable pull consumer over an in-process stream, with JetStream's delivery rules: messages in sequence order,
 * each to one subscriber at a time, redelivered after `nak(delay)` or when the ack wait passes without progress,
 * skipped once the stream no longer stores them (a newer message on the subject replaced it), `maxDeliver` and
 * `maxAckPending` honoured. Several subscribers (consumptions) share one cursor, as processes share a JetStream
 * durable.
 */
import type { ConsumeOptions, Consumption, ConsumerSpec, DeliveryHandler } from "./bus.ts";
import { createDispatcher } from "./dispatcher.ts";
import type { Dispatcher, RawDelivery } from "./dispatcher.ts";

/** What a consumer needs of its stream. */
export type StreamView = {
  name: string;
  lastSeq(): number;
  get(seq: number): { subject: string; data: Uint8Array; time: Date } | undefined;
  matches(pattern: string, subject: string): boolean;
};

type Pending = {
  deliveries: number;
  inFlight: boolean;
  /** In flight: the ack deadline. Otherwise: when it may be delivered again. */
  dueAt: number;
};

type Subscriber = { dispatcher: Dispatcher; stopped: boolean };

/** One durable consumer; `subscribe` adds a consumption. */
export class MemoryConsumer {
  spec: ConsumerSpec;
  readonly #stream: StreamView;
  #nextSeq = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #subscribers: Subscriber[] = [];
  #turn = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #scheduled = false;
  #closed = false;

  constructor(spec: ConsumerSpec, stream: StreamView) {
    this.spec = spec;
    this.#stream = stream;
  }

  /** Starts handing deliveries to `handler`. */
  subscribe(handler: DeliveryHandler, options: ConsumeOptions): Consumption {
    const sub: Subscriber = { dispatcher: createDispatcher(handler, options, this.spec.ackWaitMs, () => this.wake()), stopped: false };
    this.#subscribers.push(sub);
    this.wake();
    return {
      stop: async () => {
        if (sub.stopped) return;
        sub.stopped = true;
        this.#subscribers.splice(this.#subscribers.indexOf(sub), 1);
        await sub.dispatcher.stop();
        this.wake();
      },
    };
  }

  /** Something changed (a publish, a settle, a free slot): deliver what can be delivered, soon. */
  wake(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #pump(): void {
    if (this.#closed) return;
    const now = Date.now();
    for (const [seq, p] of this.#pending) {
      if (p.inFlight && p.dueAt <= now) {
        // Ack wait passed without ack, nak or a sign of work: deliver again.
        p.inFlight = false;
        p.dueAt = now;
      }
      if (!p.inFlight && this.#stream.get(seq) === undefined) this.#pending.delete(seq);
    }
    for (;;) {
      const sub = this.#freeSubscriber();
      if (sub === undefined) break;
      const seq = this.#nextDeliverable(now);
      if (seq === undefined) break;
      this.#deliver(sub, seq, now);
    }
    this.#schedule(now);
  }

  #freeSubscriber(): Subscriber | undefined {
    for (let i = 0; i < this.#subscribers.length; i++) {
      const sub = this.#subscribers[(this.#turn + i) % this.#subscribers.length];
      if (sub !== undefined && sub.dispatcher.free()) {
        this.#turn = (this.#turn + i + 1) % this.#subscribers.length;
        return sub;
      }
    }
    return undefined;
  }

  /** The lowest due redelivery, else the next new message on the filter. */
  #nextDeliverable(now: number): number | undefined {
    let due: number | undefined;
    for (const [seq, p] of this.#pending) if (!p.inFlight && p.dueAt <= now && (due === undefined || seq < due)) due = seq;
    if (due !== undefined) return due;
    const max = this.spec.maxAckPending ?? -1;
    if (max > 0 && this.#pending.size >= max) return undefined;
    const filter = this.spec.filterSubject;
    while (this.#nextSeq <= this.#stream.lastSeq()) {
      const seq = this.#nextSeq++;
      const m = this.#stream.get(seq);
      if (m !== undefined && (filter === undefined || this.#stream.matches(filter, m.subject))) return seq;
    }
    return undefined;
  }

  #deliver(sub: Subscriber, seq: number, now: number): void {
    const m = this.#stream.get(seq);
    if (m === undefined) {
      this.#pending.delete(seq);
      return;
    }
    const p = this.#pending.get(seq) ?? { deliveries: 0, inFlight: false, dueAt: now };
    const maxDeliver = this.spec.maxDeliver ?? -1;
    if (maxDeliver > 0 && p.deliveries >= maxDeliver) {
      this.#pending.delete(seq);
      return;
    }
    p.deliveries++;
    p.inFlight = true;
    p.dueAt = now + this.spec.ackWaitMs;
    this.#pending.set(seq, p);
    const delivery = p.deliveries;
    /** Settles only the current delivery: a late answer to an earlier one must not disturb a redelivery. */
    const current = () => this.#pending.get(seq) === p && p.deliveries === delivery && p.inFlight;
    const raw: RawDelivery = {
      subject: m.subject,
      data: m.data,
      seq,
      deliveries: delivery,
      storedAt: m.time,
      ack: () => {
        if (this.#pending.get(seq) === p) this.#pending.delete(seq);
        this.wake();
      },
      term: () => {
        if (this.#pending.get(seq) === p) this.#pending.delete(seq);
        this.wake();
      },
      nak: (delayMs = 0) => {
        if (!current()) return;
        p.inFlight = false;
        p.dueAt = Date.now() + Math.max(0, delayMs);
        this.wake();
      },
      working: () => {
        if (current()) p.dueAt = Date.now() + this.spec.ackWaitMs;
      },
      stored: async () => this.#stream.get(seq) !== undefined,
    };
    sub.dispatcher.start(raw);
  }

  /** One timer, at the earliest redelivery or ack deadline. */
  #schedule(now: number): void {
    let at = Infinity;
    for (const p of this.#pending.values()) if (p.inFlight || p.dueAt > now) at = Math.min(at, p.dueAt);
    if (at === this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Infinity) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#pump();
    }, Math.max(0, at - now) + 1);
    this.#timer.unref?.();
  }
}
