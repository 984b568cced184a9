/**
 * The receiver's request pipeline, on `/hook/<digest>` of the receiver listener:
 * lookup (404) → suspended (503) → body within the limit (413) → authenticate (401/403) → classify (400) → filter
 * → publish to FLUXGATE_EVENTS with the delivery id as `Nats-Msg-Id` → 202 only after every publish is acked.
 * Pings answer 200; authentic deliveries we drop answer 200 with the reason, so senders never disable the hook;
 * a bus that cannot store answers 503 with Retry-After and claims nothing.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { Counter, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import type { Bus } from "../events/bus.ts";
import type { ChangeDraft, ChangeEvent } from "../events/change-event.ts";
import { eventSubject } from "../events/streams.ts";
import { RequestError, UnavailableError } from "../errors.ts";
import { baseApp } from "../server/app.ts";
import { jsonResponse } from "../server/json-response.ts";
import { readBody, requestIdOf } from "../server/request-pipeline.ts";
import type { Delivery, Provider } from "./provider.ts";
import type { DeliveryRecord } from "../server/status.ts";
import type { Receiver, ReceiverIndex } from "./receiver-index.ts";

export type ReceiverRouteOptions = {
  log: Logger;
  registry: Registry;
  bus: () => Bus | undefined;
  receivers: () => ReceiverIndex;
  bodyLimit: () => number;
  now?: () => Date;
  /** Told every answered delivery (the status page keeps the last ones). */
  record?: (delivery: DeliveryRecord) => void;
};

/** What the route learned about a delivery before it answered, for the delivery log. */
type Seen = { receiver: string; provider: string; eventType: string; answer?: ReceiverAnswer };

/** The outcome a delivery is counted and logged under. */
type Result = "accepted" | "duplicate" | "ping" | "ignored" | "unauthorized" | "malformed" | "not_found" | "suspended" | "unavailable" | "too_large";

export type ReceiverAnswer =
  | { result: "accepted"; receiver: string; events: Array<{ id: string; duplicate: boolean; stream: string; seq: number }> }
  | { result: "ping" | "ignored"; receiver: string; reason: string };

/**
 * The id under which an event is deduplicated: the receiver plus the provider's delivery id (some providers, e.g.
 * Azure DevOps, share one event id between every subscription), or a digest of what identifies the change.
 */
export function eventId(provider: string, receiver: Receiver, deliveryId: string | undefined, draft: ChangeDraft, index: number, count: number): string {
  const prefix = `${provider}/${receiver.namespace}/${receiver.name}`;
  if (deliveryId !== undefined) return count > 1 ? `${prefix}/${deliveryId}/${index}` : `${prefix}/${deliveryId}`;
  const what =
    draft.kind === "git"
      ? [draft.git.key, draft.git.ref, draft.git.commit ?? ""]
      : draft.kind === "generic"
        ? []
        : [draft.image.key, draft.image.tag ?? "", draft.image.digest ?? ""];
  const digest = createHash("sha256").update(JSON.stringify([provider, receiver.namespace, receiver.name, draft.kind, draft.deleted, ...what])).digest("hex");
  return `${prefix}/sha256:${digest}`;
}

function pickProvider(receiver: Receiver, delivery: Delivery): Provider {
  const first = receiver.providers[0];
  if (first === undefined) throw new RequestError(404, "NotFound", "receiver has no provider");
  return receiver.providers.find((p) => p.recognises?.(delivery) ?? true) ?? first;
}

/** Why a change is not published, or undefined when it is. */
function dropReason(receiver: Receiver, draft: ChangeDraft): string | undefined {
  if (draft.deleted && !receiver.deletions) return "deletions are not published (set deletions: true on the receiver)";
  if (draft.kind === "git" && !receiver.refMatches(draft.git)) return `ref ${draft.git.ref} does not match the receiver's refs`;
  if ((draft.kind === "oci" || draft.kind === "helm") && draft.image.tag !== undefined && !receiver.refMatches({ tag: draft.image.tag })) {
    return `tag ${draft.image.tag} does not match the receiver's refs`;
  }
  return undefined;
}

/** The Elysia app of the receiver listener. */
export function receiverApp(options: ReceiverRouteOptions) {
  const { log } = options;
  const now = options.now ?? (() => new Date());
  const deliveries = new Counter({
    name: "fluxgate_receiver_deliveries_total",
    help: "Webhook deliveries by provider, receiver and result.",
    labelNames: ["provider", "receiver", "result"] as const,
    registers: [options.registry],
  });
  const duplicates = new Counter({
    name: "fluxgate_receiver_duplicates_total",
    help: "Events JetStream dropped as duplicates of an earlier delivery (same Nats-Msg-Id within the window).",
    labelNames: ["provider"] as const,
    registers: [options.registry],
  });
  const publishLatency = new Histogram({
    name: "fluxgate_receiver_publish_duration_seconds",
    help: "Time from publish to the bus's ack.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [options.registry],
  });

  const handle = async (request: Request, seen: Seen): Promise<Response> => {
    const url = new URL(request.url);
    const receiver = options.receivers().byPath.get(url.pathname);
    if (receiver !== undefined) seen.receiver = `${receiver.namespace}/${receiver.name}`;
    const count = (provider: string, result: Result) => deliveries.inc({ provider, receiver: receiver === undefined ? "" : `${receiver.namespace}/${receiver.name}`, result });
    if (receiver === undefined) {
      count("", "not_found");
      throw new RequestError(404, "NotFound", "no receiver has this path; it is /hook/ + sha256(token + name + namespace)");
    }
    const name = `${receiver.namespace}/${receiver.name}`;
    // CloudEvents' webhook validation handshake (http-webhook spec §4): senders such as Azure Event Grid ask first.
    const origin = request.headers.get("webhook-request-origin");
    if (request.method === "OPTIONS" && origin !== null) {
      count(receiver.type, "ping");
      return new Response(null, { status: 200, headers: { "webhook-allowed-origin": origin, "webhook-allowed-rate": "*", allow: "POST, OPTIONS" } });
    }
    if (receiver.suspend) {
      count(receiver.type, "suspended");
      throw new RequestError(503, "Suspended", `receiver ${name} is suspended`, { headers: { "retry-after": "60" } });
    }
    let body: Uint8Array;
    try {
      body = await readBody(request, options.bodyLimit());
    } catch (e) {
      count(receiver.type, "too_large");
      throw e;
    }
    const delivery: Delivery = { method: request.method, headers: request.headers, body, url };
    const provider = pickProvider(receiver, delivery);
    seen.provider = provider.name;
    const auth = await provider.authenticate(delivery, receiver.secret, now());
    if (!auth.ok) {
      count(provider.name, "unauthorized");
      log.info({ requestId: requestIdOf(request), receiver: name, provider: provider.name, reason: auth.reason }, "delivery rejected");
      throw new RequestError(auth.status, auth.status === 401 ? "Unauthorized" : "Forbidden", auth.reason);
    }
    let classified;
    try {
      classified = provider.classify(delivery);
      seen.eventType = classified.eventType;
    } catch (e) {
      count(provider.name, "malformed");
      throw e;
    }
    const answer = (status: number, a: ReceiverAnswer) => {
      seen.answer = a;
      return jsonResponse(a, status);
    };
    if (classified.type === "ping") {
      count(provider.name, "ping");
      return answer(200, { result: "ping", receiver: name, reason: classified.reason });
    }
    if (classified.type === "ignored") {
      count(provider.name, "ignored");
      return answer(200, { result: "ignored", receiver: name, reason: classified.reason });
    }
    if (receiver.events.length > 0 && !receiver.events.some((e) => e.toLowerCase() === classified.eventType.toLowerCase())) {
      count(provider.name, "ignored");
      return answer(200, { result: "ignored", receiver: name, reason: `event ${classified.eventType} is not among the receiver's events (${receiver.events.join(", ")})` });
    }
    const receivedAt = now().toISOString();
    const events: ChangeEvent[] = [];
    const dropped: string[] = [];
    classified.changes.forEach((draft, i) => {
      const why = dropReason(receiver, draft);
      if (why !== undefined) {
        dropped.push(why);
        return;
      }
      // Providers build drafts from zod-parsed payloads; the fuzz test holds every draft to the ChangeEvent schema.
      events.push({
        id: eventId(provider.name, receiver, classified.deliveryId, draft, i, classified.changes.length),
        provider: provider.name,
        receiver: { namespace: receiver.namespace, name: receiver.name },
        ...(classified.deliveryId === undefined ? {} : { deliveryId: classified.deliveryId }),
        eventType: classified.eventType,
        ...draft,
        receivedAt,
      });
    });
    if (events.length === 0) {
      count(provider.name, "ignored");
      return answer(200, { result: "ignored", receiver: name, reason: dropped.length > 0 ? [...new Set(dropped)].join("; ") : "the delivery carries no change" });
    }
    const bus = options.bus();
    if (bus === undefined) {
      count(provider.name, "unavailable");
      throw new RequestError(503, "BusUnavailable", "the event bus is not connected; retry later", { headers: { "retry-after": "5" } });
    }
    const acks = [];
    for (const event of events) {
      const started = performance.now();
      try {
        const ack = await bus.publish(eventSubject(event.provider), new TextEncoder().encode(JSON.stringify(event)), event.id);
        publishLatency.observe((performance.now() - started) / 1000);
        if (ack.duplicate) duplicates.inc({ provider: provider.name });
        acks.push({ id: event.id, duplicate: ack.duplicate, stream: ack.stream, seq: ack.seq });
      } catch (e) {
        count(provider.name, "unavailable");
        log.warn({ requestId: requestIdOf(request), receiver: name, err: e }, "event bus did not store the event; answering 503");
        // Events of this delivery stored before the failure are dropped as duplicates when the sender retries.
        throw new RequestError(503, "BusUnavailable", e instanceof UnavailableError ? e.message : "the event bus did not store the event; retry later", { headers: { "retry-after": "5" } });
      }
    }
    const allDuplicates = acks.every((a) => a.duplicate);
    count(provider.name, allDuplicates ? "duplicate" : "accepted");
    log.info({ requestId: requestIdOf(request), receiver: name, provider: provider.name, eventType: classified.eventType, events: acks.map((a) => a.id) }, allDuplicates ? "duplicate delivery" : "delivery accepted");
    return answer(202, { result: "accepted", receiver: name, events: acks });
  };

  const answered = async (request: Request): Promise<Response> => {
    const seen: Seen = { receiver: "", provider: "", eventType: "" };
    const at = now().toISOString();
    try {
      const response = await handle(request, seen);
      const a = seen.answer;
      const { receiver, provider, eventType } = seen;
      options.record?.({
        at,
        receiver,
        provider,
        eventType,
        status: response.status,
        result: a?.result ?? "",
        events: a?.result === "accepted" ? a.events.map((e) => e.id) : [],
        ...(a !== undefined && a.result !== "accepted" ? { reason: a.reason } : {}),
      });
      return response;
    } catch (e) {
      const { receiver, provider, eventType } = seen;
      options.record?.({ at, receiver, provider, eventType, status: e instanceof RequestError ? e.status : 500, result: e instanceof RequestError ? e.reason : "InternalError", events: [], reason: e instanceof Error ? e.message : String(e) });
      throw e;
    }
  };

  // An async handler that awaits: Elysia only routes a rejection to onError when it sees the handler is async.
  return baseApp("receiver", log).all("/hook/*", async ({ request }) => await answered(request), { parse: "none" });
}
