/**
 * CloudEvents 1.0 over HTTP (cloudevents/spec `http-protocol-binding.md`), shared by the `cloudevents`, `cdevents`
 * and `harbor` providers: binary mode (`ce-*` headers, the body is the data), structured mode
 * (`application/cloudevents+json`, the body is the event) and batched mode (`application/cloudevents-batch+json`,
 * a JSON array of structured events). Attributes are checked; data is decoded to JSON when it is JSON.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { ChangeDraft } from "../events/change-event.ts";
import { RequestError } from "../errors.ts";
import { jsonBody, payload } from "./payload.ts";
import type { Classified, Delivery } from "./provider.ts";

/** One CloudEvent, attributes checked, data decoded. */
export type CloudEvent = {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  /** Parsed JSON when the data is JSON (or `data_base64` of JSON), the text otherwise, undefined without data. */
  data: unknown;
};

/** How the delivery carries its event(s), chosen by Content-Type as the binding says. */
export type CloudEventMode = "binary" | "structured" | "batch";

const attribute = z.string().min(1);
const structuredEvent = z.looseObject({
  specversion: z.literal("1.0", { error: "must be \"1.0\"" }),
  id: attribute,
  source: attribute,
  type: attribute,
  subject: z.string().optional(),
  time: z.string().optional(),
  datacontenttype: z.string().optional(),
  data: z.unknown().optional(),
  data_base64: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "is not base64").optional(),
});

function mediaType(contentType: string | null | undefined): string {
  return contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
}

/** Whether data of this content type is JSON (`application/json`, `text/json`, any `+json`; absent means JSON, as the spec's JSON format says). */
function isJson(contentType: string | undefined): boolean {
  const t = mediaType(contentType);
  return t === "" || t === "application/json" || t === "text/json" || t.endsWith("+json");
}

/** The delivery's mode: structured and batched by media type; binary when `ce-specversion` is present; else none. */
export function cloudEventMode(headers: Headers): CloudEventMode | undefined {
  const type = mediaType(headers.get("content-type"));
  if (type === "application/cloudevents-batch+json") return "batch";
  if (type.startsWith("application/cloudevents")) return "structured";
  if (headers.has("ce-specversion")) return "binary";
  return undefined;
}

/** Binary-mode header values are percent-encoded (binding §3.1.3.2); decoded once. */
function headerAttribute(headers: Headers, name: string): string | undefined {
  const raw = headers.get(`ce-${name}`);
  if (raw === null) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new RequestError(400, "MalformedPayload", `header ce-${name} is not valid percent-encoding: ${JSON.stringify(raw)}`);
  }
}

function binaryEvent(d: Delivery): CloudEvent {
  const attrs = { specversion: headerAttribute(d.headers, "specversion"), id: headerAttribute(d.headers, "id"), source: headerAttribute(d.headers, "source"), type: headerAttribute(d.headers, "type") };
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === "") throw new RequestError(400, "MalformedPayload", `binary-mode CloudEvent without a ce-${name} header`);
  }
  if (attrs.specversion !== "1.0") throw new RequestError(400, "MalformedPayload", `ce-specversion ${JSON.stringify(attrs.specversion)}: only CloudEvents 1.0 is understood`);
  const contentType = d.headers.get("content-type") ?? undefined;
  const subject = headerAttribute(d.headers, "subject");
  const time = headerAttribute(d.headers, "time");
  return {
    specversion: "1.0",
    id: attrs.id ?? "",
    source: attrs.source ?? "",
    type: attrs.type ?? "",
    ...(subject === undefined ? {} : { subject }),
    ...(time === undefined ? {} : { time }),
    ...(contentType === undefined ? {} : { datacontenttype: contentType }),
    data: decodeData(d.body, contentType, "body"),
  };
}

function decodeData(bytes: Uint8Array, contentType: string | undefined, where: string): unknown {
  if (bytes.length === 0) return undefined;
  if (isJson(contentType)) {
    try {
      return jsonBody(bytes);
    } catch (e) {
      throw new RequestError(400, "MalformedPayload", `CloudEvent data (${where}): ${(e as Error).message}`);
    }
  }
  return new TextDecoder().decode(bytes);
}

function structuredFrom(value: unknown, what: string): CloudEvent {
  const e = payload(structuredEvent, value, what);
  let data: unknown = e.data;
  if (e.data_base64 !== undefined) data = decodeData(new Uint8Array(Buffer.from(e.data_base64, "base64")), e.datacontenttype, "data_base64");
  return {
    specversion: e.specversion,
    id: e.id,
    source: e.source,
    type: e.type,
    ...(e.subject === undefined ? {} : { subject: e.subject }),
    ...(e.time === undefined ? {} : { time: e.time }),
    ...(e.datacontenttype === undefined ? {} : { datacontenttype: e.datacontenttype }),
    data,
  };
}

/**
 * The CloudEvents a delivery carries, in order. 400 naming the attribute when one is missing or malformed, or when
 * the delivery is no CloudEvent at all.
 */
export function cloudEvents(d: Delivery): CloudEvent[] {
  switch (cloudEventMode(d.headers)) {
    case "binary":
      return [binaryEvent(d)];
    case "structured":
      return [structuredFrom(jsonBody(d.body), "CloudEvent")];
    case "batch": {
      const batch = payload(z.array(z.unknown()).min(1, "an empty batch"), jsonBody(d.body), "CloudEvents batch");
      return batch.map((e, i) => structuredFrom(e, `CloudEvents batch [${i}]`));
    }
    default:
      throw new RequestError(400, "MalformedPayload", "not a CloudEvent: no ce-specversion header (binary mode) and Content-Type is not application/cloudevents+json (structured mode)");
  }
}

/**
 * The dedupe id of one event: `source` and `id` together identify it (CloudEvents spec: producers keep the pair
 * unique; re-sends may reuse it). Long pairs are hashed to stay within message-id limits.
 */
export function cloudEventId(source: string, id: string): string {
  const joined = `${source}#${id}`;
  return joined.length <= 200 ? joined : `sha256:${createHash("sha256").update(joined).digest("hex")}`;
}

/** What one event means: changes, or why it is ignored. */
export type EventMeaning = { changes: ChangeDraft[] } | { ignored: string };

/**
 * Folds the meanings of a delivery's events into one classification: one event keeps its own id; a batch gets a
 * digest of all its ids (a re-sent batch has the same one).
 */
export function classifyEvents(events: readonly CloudEvent[], meaning: (e: CloudEvent) => EventMeaning): Classified {
  const ids = events.map((e) => cloudEventId(e.source, e.id));
  const deliveryId = ids.length === 1 ? (ids[0] ?? "") : `batch:${createHash("sha256").update(ids.join("\n")).digest("hex")}`;
  const eventType = [...new Set(events.map((e) => e.type))].join(",");
  const meanings = events.map(meaning);
  const changes = meanings.flatMap((m) => ("changes" in m ? m.changes : []));
  if (changes.length > 0) return { type: "changes", eventType, deliveryId, changes };
  const reasons = [...new Set(meanings.map((m) => ("ignored" in m ? m.ignored : "no change")))];
  return { type: "ignored", eventType, deliveryId, reason: reasons.join("; ") };
}
