/**
 * Harbor webhooks, in either payload format a policy can choose: "Default" (`{type: "PUSH_ARTIFACT", event_data}`,
 * `application/json`) or "CloudEvents" (structured mode, `type: harbor.artifact.pushed`, `data` = the same
 * `event_data`; binary mode is accepted too). Only artifact pushes are changes, one per pushed resource; pulls,
 * scans, deletions, quota and replication events are ignored (Flux's `harbor` type triggers on all of them).
 *
 * Harbor does not say whether an artifact is a Helm chart (its resources carry only digest, tag and URL), so every
 * push is an `oci` change; a chart's OCIRepository/HelmRepository matches it by repository all the same.
 *
 * Authentication: Harbor sends the policy's "Auth Header" verbatim as `Authorization`; it must equal the receiver's
 * token (Flux's rule) or be `Bearer <token>`.
 */
import { z } from "zod";
import type { ChangeDraft } from "../../events/change-event.ts";
import { authorizationToken } from "../authorization-token.ts";
import { classifyEvents, cloudEventMode, cloudEvents, type EventMeaning } from "../cloudevent.ts";
import { digestSchema, imageDraft } from "../image-change.ts";
import { jsonBody, payload } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";

const resource = z.object({
  digest: z.union([z.literal(""), digestSchema]).optional(),
  tag: z.string().optional(),
  resource_url: z.string().min(1),
});
const eventData = z.object({
  resources: z.array(resource).min(1),
  repository: z.object({ repo_full_name: z.string().optional() }).optional(),
});
const defaultFormat = z.object({ type: z.string().min(1), event_data: z.unknown() });

/** Harbor's names for an artifact push, in the Default and CloudEvents formats. */
const PUSH_TYPES = new Set(["PUSH_ARTIFACT", "harbor.artifact.pushed"]);

/** One change per pushed resource: image from `resource_url`, the digest, the tag unless Harbor put the digest there. */
function pushChanges(data: unknown, where: string): ChangeDraft[] {
  const d = payload(eventData, data, `Harbor ${where}`);
  return d.resources.map((r, i) => {
    // Harbor writes the digest into `tag` when an artifact is addressed by digest only.
    const tag = r.tag === undefined || r.tag === "" || r.tag.includes(":") ? undefined : r.tag;
    return imageDraft(r.resource_url, `${where}.resources.${i}.resource_url`, { tag, digest: r.digest === "" ? undefined : r.digest });
  });
}

/**
 * What a Harbor event means, for either format: `type` is `PUSH_ARTIFACT` or `harbor.artifact.pushed` for pushes.
 * Also used by the `cloudevents` provider for Harbor events sent to a generic CloudEvents receiver.
 */
export function harborEventMeaning(type: string, data: unknown, where: string): EventMeaning {
  if (PUSH_TYPES.has(type)) return { changes: pushChanges(data, where) };
  return { ignored: `Harbor event ${type} does not push an artifact` };
}

export const harbor: Provider = {
  name: "harbor",
  fluxTypes: ["harbor"],

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    return authorizationToken(d.headers, secret.token, "set the Harbor webhook policy's Auth Header to the receiver's token");
  },

  classify(d: Delivery): Classified {
    if (cloudEventMode(d.headers) !== undefined) {
      return classifyEvents(cloudEvents(d), (e) => harborEventMeaning(e.type, e.data, "data"));
    }
    const p = payload(defaultFormat, jsonBody(d.body), "Harbor");
    const m = harborEventMeaning(p.type, p.event_data, "event_data");
    return "changes" in m ? { type: "changes", eventType: p.type, changes: m.changes } : { type: "ignored", eventType: p.type, reason: m.ignored };
  },
};
