/** The production bus: JetStream streams created or updated on start, publishes acked by the server. */
import { DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { UnavailableError } from "../errors.ts";
import type { Bus, PublishAck } from "./bus.ts";
import { consumeJetStream, ensureConsumer } from "./jetstream-consumer.ts";
import { STREAMS } from "./streams.ts";
import type { StreamSpec } from "./streams.ts";

const nanos = (ms: number) => ms * 1_000_000;

function streamConfig(spec: StreamSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    subjects: spec.subjects,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(spec.duplicateWindowMs),
    max_age: nanos(spec.maxAgeMs),
    max_msgs_per_subject: spec.maxMsgsPerSubject === 0 ? -1 : spec.maxMsgsPerSubject,
  };
}

/** Creates the streams if missing (updating their limits if they exist) on an open connection. */
export async function ensureStreams(nc: NatsConnection, specs: readonly StreamSpec[] = STREAMS): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const spec of specs) {
    const config = streamConfig(spec);
    try {
      await jsm.streams.info(spec.name);
      await jsm.streams.update(spec.name, config);
    } catch (e) {
      if ((e as { name?: string }).name !== "StreamNotFoundError" && !/stream not found/i.test(String((e as Error).message))) throw e;
      await jsm.streams.add(config);
    }
  }
}

export type JetStreamBusOptions = {
  /** How long a publish may wait for the server's ack; past it the receiver answers 503. */
  publishTimeoutMs?: number;
  /** Whether the connection is up: publishing while it is down fails at once instead of waiting for the timeout. */
  connected?: () => boolean;
};

/**
 * A bus on an open NATS connection; call `ensureStreams` first.
 * @example const bus = createJetStreamBus(connection.nc)
 */
export function createJetStreamBus(nc: NatsConnection, options: JetStreamBusOptions = {}): Bus {
  const js = jetstream(nc, { timeout: options.publishTimeoutMs ?? 5000 });
  let manager: ReturnType<typeof jetstreamManager> | undefined;
  return {
    kind: "jetstream",
    async publish(subject, data, msgId): Promise<PublishAck> {
      if (options.connected?.() === false) throw new UnavailableError("BusUnavailable", "not connected to NATS");
      try {
        const ack = await js.publish(subject, data, { msgID: msgId });
        return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
      } catch (e) {
        throw new UnavailableError("BusUnavailable", `JetStream did not store the message on ${subject}: ${(e as Error).message}`, { cause: e });
      }
    },
    async consume(spec, handler, consumeOptions = {}) {
      const jsm = await (manager ??= jetstreamManager(nc).catch((e: unknown) => {
        manager = undefined;
        throw e;
      }));
      await ensureConsumer(jsm, spec);
      return consumeJetStream(js, jsm, spec, handler, consumeOptions);
    },
    async close() {},
  };
}

