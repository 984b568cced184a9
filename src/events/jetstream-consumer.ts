/**
 * Durable pull consumers on JetStream: created or updated on start, consumed with a bounded buffer (at most
 * `concurrency` messages wait in the client), handed to handlers through the shared dispatcher.
 */
import { AckPolicy, DeliverPolicy, ReplayPolicy } from "@nats-io/jetstream";
import type { ConsumerConfig, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { ConsumeOptions, Consumption, ConsumerSpec, DeliveryHandler } from "./bus.ts";
import { createDispatcher } from "./dispatcher.ts";
import type { RawDelivery } from "./dispatcher.ts";

const nanos = (ms: number) => ms * 1_000_000;

function consumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(spec.ackWaitMs),
    max_deliver: spec.maxDeliver ?? -1,
    max_ack_pending: spec.maxAckPending ?? -1,
    ...(spec.filterSubject === undefined ? {} : { filter_subject: spec.filterSubject }),
  };
}

/** Creates the durable consumer, or brings the limits of an existing one in line with `spec`. */
export async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec): Promise<void> {
  const config = consumerConfig(spec);
  let existing;
  try {
    existing = await jsm.consumers.info(spec.stream, spec.durable);
  } catch (e) {
    if (!/consumer not found/i.test(String((e as Error).message)) && (e as { name?: string }).name !== "ConsumerNotFoundError") throw e;
  }
  if (existing === undefined) {
    await jsm.consumers.add(spec.stream, config);
    return;
  }
  const c = existing.config;
  if (c.ack_wait !== config.ack_wait || c.max_deliver !== config.max_deliver || c.max_ack_pending !== config.max_ack_pending) {
    await jsm.consumers.update(spec.stream, spec.durable, { ack_wait: config.ack_wait, max_deliver: config.max_deliver, max_ack_pending: config.max_ack_pending });
  }
}

function quietly(f: () => void): void {
  try {
    f();
  } catch {
    // see above
  }
}

/** Consumes `spec` (which must exist) until stopped. */
export async function consumeJetStream(js: JetStreamClient, jsm: JetStreamManager, spec: ConsumerSpec, handler: DeliveryHandler, options: ConsumeOptions): Promise<Consumption> {
  const consumer = await js.consumers.get(spec.stream, spec.durable);
  const dispatcher = createDispatcher(handler, options, spec.ackWaitMs);
  const messages = await consumer.consume({ max_messages: Math.max(1, options.concurrency ?? 1) });
  let stopping = false;
  const raw = (m: JsMsg): RawDelivery => ({
    subject: m.subject,
    data: m.data,
    seq: m.seq,
    deliveries: m.info.deliveryCount,
    storedAt: new Date(Math.floor(Number(m.info.timestampNanos) / 1_000_000)),
    // On a closed connection these throw; the server then redelivers after the ack wait, which is what we want.
    ack: () => quietly(() => m.ack()),
    nak: (delayMs) => quietly(() => m.nak(delayMs)),
    term: () => quietly(() => m.term()),
    working: () => quietly(() => m.working()),
    stored: async () => {
      try {
        return (await jsm.streams.getMessage(spec.stream, { seq: m.seq })) !== null;
      } catch (e) {
        if (/no message found|not found/i.test(String((e as Error).message))) return false;
        throw e;
      }
    },
  });
  const loop = (async () => {
    for await (const m of messages) {
      // Messages buffered when we stopped: give them back at once rather than after their ack wait.
      if (stopping) {
        m.nak();
        continue;
      }
      await dispatcher.slot();
      if (stopping) m.nak();
      else dispatcher.start(raw(m));
    }
  })();
  return {
    async stop() {
      if (stopping) return;
      stopping = true;
      await messages.close();
      await loop;
      await dispatcher.stop();
    },
  };
}
