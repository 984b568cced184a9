/**
 * Bitbucket Server / Data Center: `repo:refs_changed` (branches and tags, one entry per ref in `changes`), and
 * `diagnostics:ping` from the "Test connection" button. A hook authenticates with an HMAC-SHA256 `X-Hub-Signature`
 * (its secret = the receiver's token), with HTTP Basic (the receiver Secret's `username`/`password`), or both.
 */
import { z } from "zod";
import { RequestError } from "../../errors.ts";
import { jsonBody, payload, ZERO_SHA } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";
import { basicAuthMatches, hmacMatches, prefixedSignature } from "../signature.ts";
import { gitDraft, objectId } from "./git-draft.ts";

const refsChanged = z.object({
  repository: z.object({
    links: z.object({
      clone: z.array(z.object({ href: z.string().min(1), name: z.string() })).min(1),
    }),
  }),
  changes: z.array(
    z.object({
      ref: z.object({ id: z.string().min(1) }),
      toHash: objectId,
      type: z.string(),
    }),
  ),
});

const PING = "diagnostics:ping";

/** http(s) clone link first (what most GitRepositories use and what the key is built from), then ssh, then the rest. */
function cloneOrder(name: string): number {
  return name === "http" ? 0 : name === "ssh" ? 1 : 2;
}

export const bitbucketServer: Provider = {
  name: "bitbucket-server",
  fluxTypes: ["bitbucket"],
  // Server sends neither X-Hook-UUID nor X-Request-UUID (Cloud sends both); see bitbucket-cloud.ts.
  recognises: (d) => d.headers.has("x-event-key") && !d.headers.has("x-hook-uuid") && !d.headers.has("x-request-uuid"),

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    const signature = d.headers.get("x-hub-signature");
    const authorization = d.headers.get("authorization");
    // Bitbucket Server 5.x sent the test ping without any credentials, and whether current Data Center signs it is
    // unverified. A ping publishes nothing, so an uncredentialed one is let through (classify answers it as a ping
    // that proves nothing); a ping that does carry credentials is checked like any delivery.
    if (signature === null && authorization === null && d.headers.get("x-event-key") === PING) return { ok: true };

    const basic = secret.username !== undefined && secret.username !== "" && secret.password !== undefined;
    if (basic) {
      if (authorization === null) return { ok: false, status: 401, reason: "no Authorization header: set Basic authentication on the Bitbucket webhook to the receiver Secret's username and password" };
      if (!basicAuthMatches(authorization, secret.username ?? "", secret.password ?? "")) return { ok: false, status: 403, reason: "Basic credentials do not match the receiver Secret's username and password" };
    }
    if (signature === null) {
      if (basic) return { ok: true };
      return { ok: false, status: 401, reason: "no X-Hub-Signature header: set the webhook's Secret in Bitbucket to the receiver's token, or add username and password to the receiver's Secret for Basic authentication" };
    }
    const sig = prefixedSignature(signature, ["sha256"]);
    if (sig === undefined) return { ok: false, status: 403, reason: "X-Hub-Signature is not of the form sha256=<hex>" };
    if (!hmacMatches("sha256", secret.token ?? "", d.body, sig.hex)) return { ok: false, status: 403, reason: "sha256 signature does not match the body and the receiver's token" };
    return { ok: true };
  },

  classify(d: Delivery): Classified {
    const eventType = d.headers.get("x-event-key") ?? "";
    const deliveryId = d.headers.get("x-request-id") ?? undefined;
    const ids = deliveryId === undefined ? {} : { deliveryId };
    if (eventType === "") throw new RequestError(400, "MissingEventType", "no X-Event-Key header");
    if (eventType === PING) {
      const signed = d.headers.has("x-hub-signature") || d.headers.has("authorization");
      const reason = signed
        ? "Bitbucket Server test connection: the hook reaches Fluxgate and its credentials match"
        : "Bitbucket Server test connection without credentials: the hook reaches Fluxgate, but this proves nothing about its secret";
      return { type: "ping", eventType, ...ids, reason };
    }
    if (eventType !== "repo:refs_changed") return { type: "ignored", eventType, ...ids, reason: `Bitbucket Server event ${eventType} does not change a source` };

    const p = payload(refsChanged, jsonBody(d.body), "Bitbucket Server repo:refs_changed");
    const urls = [...p.repository.links.clone].sort((a, b) => cloneOrder(a.name) - cloneOrder(b.name)).map((l) => l.href);
    const changes = p.changes.map((c, i) => {
      const deleted = c.type === "DELETE" || ZERO_SHA.test(c.toHash);
      return gitDraft({ urls, urlField: "repository.links.clone", ref: c.ref.id, refField: `changes.${i}.ref.id`, commit: c.toHash, deleted });
    });
    if (changes.length === 0) return { type: "ignored", eventType, ...ids, reason: "Bitbucket Server repo:refs_changed without changes" };
    return { type: "changes", eventType, ...ids, changes };
  },
};
