/**
 * Bitbucket Cloud (bitbucket.org): `repo:push` carries every branch and tag the push moved, created or deleted, one
 * entry each in `push.changes`. HMAC-SHA256 in `X-Hub-Signature: sha256=<hex>` (sent once the hook has a secret).
 * Bitbucket Cloud has no ping event.
 */
import { z } from "zod";
import type { ChangeDraft } from "../../events/change-event.ts";
import { RequestError } from "../../errors.ts";
import { jsonBody, payload } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";
import { hmacMatches, prefixedSignature } from "../signature.ts";
import { gitDraft, objectId } from "./git-draft.ts";

const newRef = z.object({ type: z.string(), name: z.string().min(1), target: z.object({ hash: objectId }) });
const oldRef = z.object({ type: z.string(), name: z.string().min(1) });

const pushPayload = z.object({
  repository: z.object({
    full_name: z.string().regex(/^[^/\s]+\/[^/\s]+$/, "expected <workspace>/<repository>"),
    // Webhook payloads carry no clone links today; the REST API's repository object does, so take them if they appear.
    links: z.object({ clone: z.array(z.object({ href: z.string().min(1) })).optional() }).optional(),
  }),
  push: z.object({
    changes: z.array(
      z
        .object({ new: newRef.nullable(), old: oldRef.nullable() })
        .refine((c) => c.new !== null || c.old !== null, "new and old are both null"),
    ),
  }),
});

/** Branches and tags only: `named_branch`/`bookmark` were Mercurial's, which Bitbucket dropped in 2020. */
const REF_TYPES = new Set(["branch", "tag"]);

export const bitbucketCloud: Provider = {
  name: "bitbucket-cloud",
  fluxTypes: ["bitbucket"],
  // Cloud sends X-Hook-UUID and X-Request-UUID; Server sends neither. Absence of X-Request-Id would be a weaker test:
  // ingress-nginx and most proxies add an X-Request-Id to every request they forward.
  recognises: (d) => d.headers.has("x-event-key") && (d.headers.has("x-hook-uuid") || d.headers.has("x-request-uuid")),

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    const header = d.headers.get("x-hub-signature");
    if (header === null) return { ok: false, status: 401, reason: "no X-Hub-Signature header: set the webhook's Secret in Bitbucket to the receiver's token" };
    const sig = prefixedSignature(header, ["sha256"]);
    if (sig === undefined) return { ok: false, status: 403, reason: "X-Hub-Signature is not of the form sha256=<hex>" };
    if (!hmacMatches("sha256", secret.token ?? "", d.body, sig.hex)) return { ok: false, status: 403, reason: "sha256 signature does not match the body and the receiver's token" };
    return { ok: true };
  },

  classify(d: Delivery): Classified {
    const eventType = d.headers.get("x-event-key") ?? "";
    const deliveryId = d.headers.get("x-request-uuid") ?? undefined;
    const ids = deliveryId === undefined ? {} : { deliveryId };
    if (eventType === "") throw new RequestError(400, "MissingEventType", "no X-Event-Key header");
    if (eventType !== "repo:push") return { type: "ignored", eventType, ...ids, reason: `Bitbucket Cloud event ${eventType} does not change a source` };

    const p = payload(pushPayload, jsonBody(d.body), "Bitbucket Cloud repo:push");
    // Cloud is always bitbucket.org and the payload names the repository only by full_name: build both clone forms.
    const name = p.repository.full_name;
    const urls = [`https://bitbucket.org/${name}.git`, `git@bitbucket.org:${name}.git`, ...(p.repository.links?.clone ?? []).map((l) => l.href)];
    const changes: ChangeDraft[] = [];
    for (const [i, c] of p.push.changes.entries()) {
      // `new: null` is a deletion: the ref's name and kind are then only in `old`.
      const ref = c.new ?? c.old;
      if (ref === null || !REF_TYPES.has(ref.type)) continue;
      const deleted = c.new === null;
      changes.push(gitDraft({ urls, urlField: "repository.full_name", ref: `${ref.type === "tag" ? "refs/tags/" : "refs/heads/"}${ref.name}`, refField: `push.changes.${i}.${deleted ? "old" : "new"}.name`, commit: c.new?.target.hash, deleted }));
    }
    if (changes.length === 0) return { type: "ignored", eventType, ...ids, reason: "Bitbucket Cloud repo:push moved no branch or tag" };
    return { type: "changes", eventType, ...ids, changes };
  },
};
