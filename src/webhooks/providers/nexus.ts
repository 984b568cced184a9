/**
 * Sonatype Nexus Repository 3 webhooks. `X-Nexus-Webhook-Id` is the event kind; only `rm:repository:component`
 * events on `docker` components are changes (`CREATED`/`UPDATED`; `DELETED` as a deletion). HMAC-SHA1 of the body
 * in `X-Nexus-Webhook-Signature` (hex) keyed with the receiver's token, required as Flux requires it.
 *
 * Nexus does not say under which host a docker repository is served (a connector port or a proxy in front), and
 * names a docker component `name` = image path, `version` = tag (spec §4.5, unverified). So the webhook URL tells:
 * `/hook/<hex>?registry=nexus.example.com:8082` (a path prefix is allowed: `?registry=nexus.example.com/docker`)
 * makes the image `<registry>/<name>:<version>`. Without it a docker push is a `generic` change (every resource of
 * the receiver, as Flux does), since the image cannot be named.
 */
import { z } from "zod";
import { RequestError } from "../../errors.ts";
import { imageOf } from "../image-change.ts";
import { jsonBody, payload } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";
import { hmacMatches } from "../signature.ts";

const COMPONENT_EVENT = "rm:repository:component";

const componentPayload = z.object({
  repositoryName: z.string().min(1),
  action: z.string().min(1),
  component: z.object({
    format: z.string().min(1),
    name: z.string().min(1),
    version: z.string().optional(),
  }),
});

export const nexus: Provider = {
  name: "nexus",
  fluxTypes: ["nexus"],

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    const hex = d.headers.get("x-nexus-webhook-signature");
    if (hex === null || hex === "") return { ok: false, status: 401, reason: "no X-Nexus-Webhook-Signature header: set the Nexus webhook capability's Secret Key to the receiver's token" };
    // An empty key would let anyone sign; a receiver without a token accepts nothing.
    if (secret.token === undefined || secret.token === "") return { ok: false, status: 403, reason: "the receiver's secret has no token to check the signature with" };
    if (!hmacMatches("sha1", secret.token, d.body, hex.trim())) return { ok: false, status: 403, reason: "X-Nexus-Webhook-Signature (HMAC-SHA1) does not match the body and the receiver's token" };
    return { ok: true };
  },

  classify(d: Delivery): Classified {
    const eventType = d.headers.get("x-nexus-webhook-id") ?? "";
    if (eventType === "") throw new RequestError(400, "MissingEventType", "no X-Nexus-Webhook-Id header");
    const delivery = d.headers.get("x-nexus-webhook-delivery");
    const ids = delivery === null || delivery === "" ? {} : { deliveryId: delivery };
    if (eventType !== COMPONENT_EVENT) return { type: "ignored", eventType, ...ids, reason: `Nexus event ${eventType} is not a component event (${COMPONENT_EVENT})` };
    const p = payload(componentPayload, jsonBody(d.body), "Nexus component");
    const { format, name, version } = p.component;
    if (format !== "docker") return { type: "ignored", eventType, ...ids, reason: `Nexus ${format} component ${name} is not a container image` };
    if (p.action !== "CREATED" && p.action !== "UPDATED" && p.action !== "DELETED") return { type: "ignored", eventType, ...ids, reason: `Nexus component action ${p.action} does not change an image` };
    const deleted = p.action === "DELETED";
    const registry = d.url.searchParams.get("registry")?.trim().replace(/\/+$/, "");
    if (registry === undefined || registry === "") {
      if (deleted) return { type: "ignored", eventType, ...ids, reason: `Nexus deleted ${name} in ${p.repositoryName}; without ?registry= on the webhook URL the image cannot be named` };
      return { type: "changes", eventType, ...ids, changes: [{ kind: "generic", deleted: false }] };
    }
    const image = imageOf(`${registry}/${name}`, { tag: version }, "component.name");
    return { type: "changes", eventType, ...ids, changes: [{ kind: "oci", image, deleted }] };
  },
};
