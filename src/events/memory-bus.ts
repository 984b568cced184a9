/**
 * The embedded mode's bus: JetStream's contract kept in memory — streams by subject, a duplicate window on the
 * message id, per-subject limits, durable consumers with acks and delayed redelivery (`memory-consumer.ts`) — so the
 * receiver and worker behave the same with or without NATS. Nothing survives a restart of the process, which the
 * embedded mode accepts.
 */
import { UnavailableError } from "../errors.ts";
import type { Bus, PublishAck } from "./bus.ts";
import { MemoryConsumer } from "./memory-consumer.ts";
import { STREAMS } from "./streams.ts";
import type { StreamSpec } from "./streams.ts";

export type StoredMessage = { stream: string; subject: string; seq: number; msgId: string; data: Uint8Array; time: Date };

/**
 * Maps keep insertion order, which is time order here: expiry walks from the oldest entry and stops at the first
 * young one, so a publish costs O(1) amortised however many messages the window holds.
 */
type Stream = {
  spec: StreamSpec;
  seq: number;
  messages: Map<number, StoredMessage>;
  bySubject: Map<string, number[]>;
  ids: Map<string, { seq: number; at: number }>;
};

/** Whether `subject` matches a NATS subject pattern (`*` one token, `>` the rest). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

export type MemoryBus = Bus & {
  /** Messages currently stored in a stream, oldest first (for the in-process worker and tests). */
  messages(stream: string): StoredMessage[];
};

/** A new in-process bus with the project's streams. `now` is injectable for tests of the duplicate window. */
export function createMemoryBus(options: { streams?: readonly StreamSpec[]; now?: () => Date } = {}): MemoryBus {
  const now = options.now ?? (() => new Date());
  const streams = (options.streams ?? STREAMS).map((spec): Stream => ({ spec, seq: 0, messages: new Map(), bySubject: new Map(), ids: new Map() }));
  const remove = (stream: Stream, m: StoredMessage) => {
    stream.messages.delete(m.seq);
    const seqs = stream.bySubject.get(m.subject);
    const at = seqs?.indexOf(m.seq) ?? -1;
    if (seqs !== undefined && at >= 0) seqs.splice(at, 1);
    if (seqs?.length === 0) stream.bySubject.delete(m.subject);
  };
  const consumers = new Map<string, { stream: Stream; consumer: MemoryConsumer }>();
  const wakeConsumers = (stream: Stream) => {
    for (const c of consumers.values()) if (c.stream === stream) c.consumer.wake();
  };
  let closed = false;
  return {
    kind: "in-process",
    async publish(subject, data, msgId): Promise<PublishAck> {
      if (closed) throw new UnavailableError("BusUnavailable", "the in-process bus is closed");
      const stream = streams.find((s) => s.spec.subjects.some((p) => subjectMatches(p, subject)));
      if (stream === undefined) throw new UnavailableError("BusUnavailable", `no stream stores subject ${subject}`);
      const t = now().getTime();
      for (const [id, seen] of stream.ids) {
        if (t - seen.at <= stream.spec.duplicateWindowMs) break;
        stream.ids.delete(id);
      }
      for (const m of stream.messages.values()) {
        if (t - m.time.getTime() <= stream.spec.maxAgeMs) break;
        remove(stream, m);
      }
      const seen = stream.ids.get(msgId);
      if (seen !== undefined) return { stream: stream.spec.name, seq: seen.seq, duplicate: true };
      const seq = ++stream.seq;
      stream.ids.set(msgId, { seq, at: t });
      const message: StoredMessage = { stream: stream.spec.name, subject, seq, msgId, data, time: new Date(t) };
      stream.messages.set(seq, message);
      const seqs = stream.bySubject.get(subject) ?? [];
      seqs.push(seq);
      stream.bySubject.set(subject, seqs);
      const limit = stream.spec.maxMsgsPerSubject;
      while (limit > 0 && seqs.length > limit) {
        const oldest = stream.messages.get(seqs[0] ?? -1);
        if (oldest === undefined) seqs.shift();
        else remove(stream, oldest);
      }
      wakeConsumers(stream);
      return { stream: stream.spec.name, seq, duplicate: false };
    },
    async consume(spec, handler, options = {}) {
      if (closed) throw new UnavailableError("BusUnavailable", "the in-process bus is closed");
      const stream = streams.find((s) => s.spec.name === spec.stream);
      if (stream === undefined) throw new UnavailableError("BusUnavailable", `no stream ${spec.stream}`);
      const key = `${spec.stream}/${spec.durable}`;
      let entry = consumers.get(key);
      if (entry === undefined) {
        const view = {
          name: stream.spec.name,
          lastSeq: () => stream.seq,
          get: (seq: number) => stream.messages.get(seq),
          matches: subjectMatches,
        };
        entry = { stream, consumer: new MemoryConsumer(spec, view) };
        consumers.set(key, entry);
      } else entry.consumer.spec = spec;
      return entry.consumer.subscribe(handler, options);
    },
    messages: (name) => [...(streams.find((s) => s.spec.name === name)?.messages.values() ?? [])],
    async close() {
      closed = true;
      for (const c of consumers.values()) c.consumer.close();
    },
  };
}
