/**
 * GitLab project, group and system hooks: `Push Hook`, `Tag Push Hook`, and `System Hook` deliveries whose body is a
 * push, a tag push or a repository update. The secret token arrives in clear in `X-Gitlab-Token` (compared in constant
 * time, unlike Flux). GitLab has no ping: its "Test" button sends a real-shaped event, handled like any other.
 */
import { z } from "zod";
import { RequestError } from "../../errors.ts";
import { jsonBody, payload, ZERO_SHA } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";
import { secretEquals } from "../signature.ts";
import { gitDraft, objectId } from "./git-draft.ts";

const project = z.object({
  git_http_url: z.string().min(1),
  git_ssh_url: z.string().min(1).nullish(),
});

/** Push and tag push share one shape (project hooks and system hooks alike). */
const refPush = z.object({
  ref: z.string().min(1),
  after: objectId,
  // The commit checked out: for an annotated tag `after` is the tag object, this is the commit; null on deletion.
  checkout_sha: objectId.nullish(),
  project,
});

/** System hooks carry `event_name` (older kinds) or `object_kind` (newer ones); GitLab sends both for pushes. */
const systemHook = z.object({ object_kind: z.string().optional(), event_name: z.string().optional() });

/** "Repository update" system hook: once per push, every ref it moved (sent even when push events are not). */
const repositoryUpdate = z.object({
  project,
  changes: z.array(z.object({ ref: z.string().min(1), after: objectId })),
});

function pushChange(p: z.output<typeof refPush>, eventType: string, ids: { deliveryId?: string }): Classified {
  const deleted = ZERO_SHA.test(p.after);
  const change = gitDraft({
    urls: [p.project.git_http_url, p.project.git_ssh_url],
    urlField: "project.git_http_url",
    ref: p.ref,
    refField: "ref",
    commit: p.checkout_sha ?? p.after,
    deleted,
  });
  return { type: "changes", eventType, ...ids, changes: [change] };
}

export const gitlab: Provider = {
  name: "gitlab",
  fluxTypes: ["gitlab"],

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    const given = d.headers.get("x-gitlab-token");
    if (given === null) return { ok: false, status: 401, reason: "no X-Gitlab-Token header: set the webhook's secret token in GitLab to the receiver's token" };
    if (!secretEquals(given, secret.token ?? "")) return { ok: false, status: 403, reason: "X-Gitlab-Token does not match the receiver's token" };
    return { ok: true };
  },

  classify(d: Delivery): Classified {
    const eventType = d.headers.get("x-gitlab-event") ?? "";
    // Idempotency-Key (GitLab 17.4+) stays the same across retries; the event UUID is the fallback for older versions.
    const deliveryId = d.headers.get("idempotency-key") ?? d.headers.get("x-gitlab-event-uuid") ?? undefined;
    const ids = deliveryId === undefined ? {} : { deliveryId };
    if (eventType === "") throw new RequestError(400, "MissingEventType", "no X-Gitlab-Event header");
    switch (eventType) {
      case "Push Hook":
      case "Tag Push Hook":
        return pushChange(payload(refPush, jsonBody(d.body), `GitLab ${eventType}`), eventType, ids);
      case "System Hook": {
        const body = jsonBody(d.body);
        const head = payload(systemHook, body, "GitLab System Hook");
        const kind = head.object_kind ?? head.event_name ?? "";
        if (kind === "push" || kind === "tag_push") return pushChange(payload(refPush, body, `GitLab System Hook ${kind}`), eventType, ids);
        if (kind === "repository_update") {
          const p = payload(repositoryUpdate, body, "GitLab System Hook repository_update");
          const urls = [p.project.git_http_url, p.project.git_ssh_url];
          const changes = p.changes.map((c, i) =>
            gitDraft({ urls, urlField: "project.git_http_url", ref: c.ref, refField: `changes.${i}.ref`, commit: c.after, deleted: ZERO_SHA.test(c.after) }),
          );
          if (changes.length === 0) return { type: "ignored", eventType, ...ids, reason: "GitLab repository_update without changes" };
          return { type: "changes", eventType, ...ids, changes };
        }
        return { type: "ignored", eventType, ...ids, reason: `GitLab system hook event ${kind === "" ? "(unnamed)" : kind} does not change a source` };
      }
      default:
        return { type: "ignored", eventType, ...ids, reason: `GitLab event ${eventType} does not change a source` };
    }
  },
};
