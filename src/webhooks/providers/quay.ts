/**
 * Quay "Repository Push" notifications (webhook method): `docker_url` names the image, `updated_tags` the tags the
 * push moved; one change per tag, no digest. Quay sends no credentials (only an optional TLS client certificate),
 * so, as with Flux's `quay` type, the `/hook/<sha256>` path is the only secret. A notification reshaped by a user
 * JSON template is not understood.
 */
import { z } from "zod";
import { imageOf } from "../image-change.ts";
import { jsonBody, payload } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider } from "../provider.ts";

const pushPayload = z.object({
  docker_url: z.string().min(1),
  // Older Quay versions sent a tag → image id map instead of a list.
  updated_tags: z.union([z.array(z.string().min(1)), z.record(z.string(), z.unknown())], { error: "expected a list of tags" }),
});

export const quay: Provider = {
  name: "quay",
  fluxTypes: ["quay"],

  /** Always authentic: Quay offers no signature, token or header to check; the URL is the secret. */
  authenticate(): AuthResult {
    return { ok: true };
  },

  classify(d: Delivery): Classified {
    const p = payload(pushPayload, jsonBody(d.body), "Quay repository push");
    const tags = Array.isArray(p.updated_tags) ? p.updated_tags : Object.keys(p.updated_tags);
    if (tags.length === 0) return { type: "ignored", eventType: "repo_push", reason: "Quay push without updated tags" };
    const changes = tags.map((tag) => ({ kind: "oci" as const, image: imageOf(p.docker_url, { tag }, "docker_url"), deleted: false }));
    return { type: "changes", eventType: "repo_push", changes };
  },
};
