/**
 * GitHub (and GHCR through it): `push` (branches and tags), tag `create`, `ping`, and `package` /
 * `registry_package` for container images published to ghcr.io. HMAC-SHA256 in `X-Hub-Signature-256`
 * (SHA-1 `X-Hub-Signature` accepted when it is the only one, as Flux does). Form-encoded deliveries carry the JSON
 * in the `payload` field; the signature covers the raw form body.
 */
import { z } from "zod";
import { imageKey } from "../../flux/repo-url.ts";
import type { ChangeDraft } from "../../events/change-event.ts";
import { RequestError } from "../../errors.ts";
import { jsonBody, payload, ZERO_SHA } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";
import { hmacMatches, prefixedSignature } from "../signature.ts";
import { fullRef, gitDraft } from "./git-draft.ts";

const repository = z.object({
  clone_url: z.string().min(1),
  ssh_url: z.string().min(1).optional(),
  git_url: z.string().min(1).optional(),
});

const pushPayload = z.object({
  ref: z.string().min(1),
  after: z.string().regex(/^[0-9a-f]{40,64}$/),
  deleted: z.boolean().optional(),
  repository,
});

const createPayload = z.object({
  ref: z.string().min(1),
  ref_type: z.enum(["tag", "branch"]),
  repository,
});

const packageVersion = z.object({
  version: z.string().optional(),
  package_url: z.string().optional(),
  container_metadata: z
    .object({
      tag: z.object({ name: z.string(), digest: z.string().optional() }).optional(),
      manifest: z.object({ digest: z.string().optional() }).optional(),
    })
    .nullish(),
});
const pkg = z.object({
  name: z.string(),
  namespace: z.string().optional(),
  package_type: z.string(),
  ecosystem: z.string().optional(),
  package_version: packageVersion,
});
const packagePayload = z.object({ action: z.string(), package: pkg });
const registryPackagePayload = z.object({ action: z.string(), registry_package: pkg });

/** Reads the JSON of a GitHub delivery, from a JSON body or from a form body's `payload` field. */
function githubJson(delivery: Delivery): unknown {
  const type = delivery.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") {
    const form = new URLSearchParams(new TextDecoder().decode(delivery.body));
    const p = form.get("payload");
    if (p === null) throw new RequestError(400, "MalformedPayload", "form-encoded delivery without a payload field");
    return jsonBody(new TextEncoder().encode(p));
  }
  return jsonBody(delivery.body);
}

const cloneUrls = (r: z.output<typeof repository>) => [r.clone_url, r.ssh_url, r.git_url];

function packageChange(p: z.output<typeof pkg>, action: string, eventType: string): Classified {
  // GitHub's examples label container packages inconsistently (package_type "npm", ecosystem "docker"): any of the
  // container markers will do.
  const container = [p.package_type, p.ecosystem ?? ""].some((t) => ["container", "docker"].includes(t.toLowerCase()));
  if (!container) return { type: "ignored", eventType, reason: `package type ${p.package_type} is not a container image` };
  if (action !== "published" && action !== "updated") return { type: "ignored", eventType, reason: `package action ${action} does not publish an image` };
  const url = p.package_version.package_url ?? "";
  const repositoryRef = url.replace(/:[^/:]*$/, "").toLowerCase();
  const key = imageKey(repositoryRef);
  if (repositoryRef === "" || key === undefined) throw new RequestError(400, "MalformedPayload", `package_version.package_url is not an image reference: ${JSON.stringify(url)}`);
  const meta = p.package_version.container_metadata;
  const tag = meta?.tag?.name;
  const digest = meta?.manifest?.digest ?? meta?.tag?.digest ?? (p.package_version.version?.includes(":") === true ? p.package_version.version : undefined);
  const change: ChangeDraft = {
    kind: "oci",
    image: { repository: repositoryRef, key, ...(tag === undefined || tag === "" ? {} : { tag }), ...(digest === undefined ? {} : { digest }) },
    deleted: false,
  };
  return { type: "changes", eventType, changes: [change] };
}

export const github: Provider = {
  name: "github",
  fluxTypes: ["github"],
  recognises: (d) => d.headers.has("x-github-event") && !d.headers.has("x-gitea-event") && !d.headers.has("x-forgejo-event") && !d.headers.has("x-gogs-event"),

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    const header = d.headers.get("x-hub-signature-256") ?? d.headers.get("x-hub-signature");
    if (header === null) return { ok: false, status: 401, reason: "no X-Hub-Signature-256 header: set the webhook secret in GitHub to the receiver's token" };
    const sig = prefixedSignature(header, ["sha256", "sha1", "sha512"]);
    if (sig === undefined) return { ok: false, status: 403, reason: "X-Hub-Signature-256 is not of the form sha256=<hex>" };
    if (!hmacMatches(sig.algorithm, secret.token ?? "", d.body, sig.hex)) return { ok: false, status: 403, reason: `${sig.algorithm} signature does not match the body and the receiver's token` };
    return { ok: true };
  },

  classify(d: Delivery): Classified {
    const eventType = d.headers.get("x-github-event") ?? "";
    const deliveryId = d.headers.get("x-github-delivery") ?? undefined;
    const ids = deliveryId === undefined ? {} : { deliveryId };
    if (eventType === "") throw new RequestError(400, "MissingEventType", "no X-GitHub-Event header");
    const type = d.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json" && type !== "application/x-www-form-urlencoded") {
      throw new RequestError(400, "UnsupportedContentType", `Content-Type ${JSON.stringify(type ?? "")}: GitHub sends application/json or application/x-www-form-urlencoded`);
    }
    switch (eventType) {
      case "ping":
        return { type: "ping", eventType, ...ids, reason: "GitHub ping: the hook reaches Fluxgate" };
      case "push": {
        const p = payload(pushPayload, githubJson(d), "GitHub push");
        const deleted = p.deleted === true || ZERO_SHA.test(p.after);
        const change = gitDraft({ urls: cloneUrls(p.repository), urlField: "repository.clone_url", ref: p.ref, refField: "ref", commit: p.after, deleted });
        return { type: "changes", eventType, ...ids, changes: [change] };
      }
      case "create": {
        const p = payload(createPayload, githubJson(d), "GitHub create");
        if (p.ref_type !== "tag") return { type: "ignored", eventType, ...ids, reason: "branch creation: the push event that follows carries the commit" };
        const change = gitDraft({ urls: cloneUrls(p.repository), urlField: "repository.clone_url", ref: fullRef(p.ref, "tag"), refField: "ref", deleted: false });
        return { type: "changes", eventType, ...ids, changes: [change] };
      }
      case "package": {
        const p = payload(packagePayload, githubJson(d), "GitHub package");
        return { ...packageChange(p.package, p.action, eventType), ...ids };
      }
      case "registry_package": {
        const p = payload(registryPackagePayload, githubJson(d), "GitHub registry_package");
        return { ...packageChange(p.registry_package, p.action, eventType), ...ids };
      }
      default:
        return { type: "ignored", eventType, ...ids, reason: `GitHub event ${eventType} does not change a source` };
    }
  },
};
