/**
 * The embedded mode's bus: JetStream's contract kept in memory — streams by subject, a duplicate window on the
 * message id, per-subject limits — so the receiver and worker behave the same with or without NATS. Nothing
 * survives a restart, which the embedded mode accepts.
 */
import { UnavailableError } from "../errors.ts";
import type { Bus, PublishAck } from "./bus.ts";
import { STREAMS } from "./streams.ts";
import type { StreamSpec } from "./streams.ts";

export type StoredMessage = { stream: string; subject: string; seq: number; msgId: string; data: Uint8Array; time: Date };

type Stream = { spec: StreamSpec; seq: number; messages: StoredMessage[]; ids: Map<string, { seq: number; at: number }> };

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
  const streams = (options.streams ?? STREAMS).map((spec): Stream => ({ spec, seq: 0, messages: [], ids: new Map() }));
  let closed = false;
  return {
    kind: "in-process",
    async publish(subject, data, msgId): Promise<PublishAck> {
      if (closed) throw new UnavailableError("BusUnavailable", "the in-process bus is closed");
      const stream = streams.find((s) => s.spec.subjects.some((p) => subjectMatches(p, subject)));
      if (stream === undefined) throw new UnavailableError("BusUnavailable", `no stream stores subject ${subject}`);
      const t = now();
      for (const [id, seen] of stream.ids) if (t.getTime() - seen.at > stream.spec.duplicateWindowMs) stream.ids.delete(id);
      const seen = stream.ids.get(msgId);
      if (seen !== undefined) return { stream: stream.spec.name, seq: seen.seq, duplicate: true };
      const seq = ++stream.seq;
      stream.ids.set(msgId, { seq, at: t.getTime() });
      stream.messages.push({ stream: stream.spec.name, subject, seq, msgId, data, time: t });
      const limit = stream.spec.maxMsgsPerSubject;
      if (limit > 0) {
        const same = stream.messages.filter((m) => m.subject === subject);
        if (same.length > limit) {
          const drop = new Set(same.slice(0, same.length - limit));
          stream.messages = stream.messages.filter((m) => !drop.has(m));
        }
      }
      stream.messages = stream.messages.filter((m) => t.getTime() - m.time.getTime() <= stream.spec.maxAgeMs);
      return { stream: stream.spec.name, seq, duplicate: false };
    },
    messages: (name) => [...(streams.find((s) => s.spec.name === name)?.messages ?? [])],
    async close() {
      closed = true;
    },
  };
}
