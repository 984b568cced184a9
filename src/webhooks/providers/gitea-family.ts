/**
 * Gitea, its fork Forgejo, and their ancestor Gogs send the same payloads (`push`, `create`, `delete`) and sign them
 * the same way: lowercase hex HMAC-SHA256 of the JSON payload, no prefix, in their own header. Only the header names
 * differ, so each of gitea.ts, forgejo.ts and gogs.ts is this factory with its names.
 *
 * The signature covers the JSON text, not the request body: with the form content type the body is
 * `payload=<urlencoded JSON>` and the JSON is verified after decoding (Flux's `github` type cannot check those).
 */
import { z } from "zod";
import type { ProviderName } from "../../events/change-event.ts";
import { RequestError } from "../../errors.ts";
import { jsonBody, payload, ZERO_SHA } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";
import { hmacMatches } from "../signature.ts";
import { fullRef, gitDraft, objectId } from "./git-draft.ts";

/** The header names and labels that tell one member of the family from another. */
export type GiteaFamilyOptions = {
  name: ProviderName;
  /** Product name for messages: `Gitea`, `Forgejo`, `Gogs`. */
  label: string;
  fluxTypes: readonly string[];
  /** Header names as the product documents them (`X-Gitea-Event`); looked up case-insensitively. */
  eventHeader: string;
  deliveryHeader: string;
  signatureHeader: string;
  recognises: (delivery: Delivery) => boolean;
};

const repository = z.object({
  clone_url: z.string().min(1),
  ssh_url: z.string().min(1).nullish(),
});

const pushPayload = z.object({ ref: z.string().min(1), before: objectId, after: objectId, repository });

/** `create` and `delete` name the ref short (Gitea, Gogs) or in full (Forgejo's Gitea-type hooks, some Gogs). */
const refEventPayload = z.object({
  ref: z.string().min(1),
  ref_type: z.enum(["branch", "tag"]),
  // Gitea's `create` carries the commit; Gogs' does not.
  sha: z.string().optional(),
  repository,
});

/**
 * The JSON text the signature covers: the body for JSON deliveries, the `payload` field of a form body, or the
 * `payload` query parameter of a GET delivery. Undefined when a form or GET delivery has no `payload`.
 */
function payloadBytes(d: Delivery): Uint8Array | undefined {
  if (d.method.toUpperCase() === "GET") {
    const p = d.url.searchParams.get("payload");
    return p === null ? undefined : new TextEncoder().encode(p);
  }
  const type = d.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return d.body;
  const p = new URLSearchParams(new TextDecoder().decode(d.body)).get("payload");
  return p === null ? undefined : new TextEncoder().encode(p);
}

/**
 * A provider for one member of the Gitea family.
 * @example export const gitea = giteaFamilyProvider({ name: "gitea", label: "Gitea", eventHeader: "X-Gitea-Event", … })
 */
export function giteaFamilyProvider(o: GiteaFamilyOptions): Provider {
  function authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    const header = o.signatureHeader;
    const given = d.headers.get(header);
    if (given === null) return { ok: false, status: 401, reason: `no ${header} header: set the webhook's secret in ${o.label} to the receiver's token` };
    // A hook without a secret still sends the header, empty.
    if (given.trim() === "") return { ok: false, status: 401, reason: `${header} is empty: the ${o.label} webhook has no secret; set it to the receiver's token` };
    const json = payloadBytes(d);
    if (json === undefined) return { ok: false, status: 403, reason: "no payload field in the form body or query: nothing to verify the signature against" };
    if (!hmacMatches("sha256", secret.token ?? "", json, given.trim())) return { ok: false, status: 403, reason: `${header} does not match the payload and the receiver's token` };
    return { ok: true };
  }

  function classify(d: Delivery): Classified {
    const eventType = d.headers.get(o.eventHeader) ?? "";
    const deliveryId = d.headers.get(o.deliveryHeader) ?? undefined;
    const ids = deliveryId === undefined ? {} : { deliveryId };
    if (eventType === "") throw new RequestError(400, "MissingEventType", `no ${o.eventHeader} header`);
    if (eventType !== "push" && eventType !== "create" && eventType !== "delete") {
      return { type: "ignored", eventType, ...ids, reason: `${o.label} event ${eventType} does not change a source` };
    }
    const bytes = payloadBytes(d);
    if (bytes === undefined) throw new RequestError(400, "MalformedPayload", "no payload field in the form body or query");
    const json = jsonBody(bytes);
    const what = `${o.label} ${eventType}`;

    if (eventType === "push") {
      const p = payload(pushPayload, json, what);
      // "Test Delivery" sends a push of the default branch whose before and after are the same commit (all zeros
      // in recent versions); a real push always moves the ref.
      if (p.before === p.after) return { type: "ping", eventType, ...ids, reason: `${o.label} test delivery: the hook reaches Fluxgate` };
      const deleted = ZERO_SHA.test(p.after);
      const change = gitDraft({ urls: [p.repository.clone_url, p.repository.ssh_url], urlField: "repository.clone_url", ref: p.ref, refField: "ref", commit: p.after, deleted });
      return { type: "changes", eventType, ...ids, changes: [change] };
    }

    const p = payload(refEventPayload, json, what);
    const urls = [p.repository.clone_url, p.repository.ssh_url];
    if (eventType === "create") {
      if (p.ref_type !== "tag") return { type: "ignored", eventType, ...ids, reason: "branch creation: the push event that follows carries the commit" };
      const sha = objectId.safeParse(p.sha);
      const commit = sha.success && !ZERO_SHA.test(sha.data) ? sha.data : undefined;
      const change = gitDraft({ urls, urlField: "repository.clone_url", ref: fullRef(p.ref, "tag"), refField: "ref", commit, deleted: false });
      return { type: "changes", eventType, ...ids, changes: [change] };
    }
    const change = gitDraft({ urls, urlField: "repository.clone_url", ref: fullRef(p.ref, p.ref_type), refField: "ref", deleted: true });
    return { type: "changes", eventType, ...ids, changes: [change] };
  }

  return { name: o.name, fluxTypes: o.fluxTypes, recognises: o.recognises, authenticate, classify };
}
