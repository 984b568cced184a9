/**
 * CloudEvents 1.0 over HTTP, any producer (a Fluxgate receiver type; Flux has none): binary, structured and batched
 * modes; the delivery id is `source#id`. Harbor (`harbor.*`) and CDEvents (`dev.cdevents.*`) events are read as
 * their own providers read them. Other events are changes when their JSON `data` follows this convention:
 *
 * - git:   `{"repository": "<clone URL>", "ref": "refs/heads/main", "commit": "<sha>"}` — `url` may stand for
 *          `repository`, `branch: "main"` or `tag: "v1.2.3"` for `ref`; `commit` optional.
 * - image: `{"image": "registry/path[:tag][@digest]", "tag": "1.2.3", "digest": "sha256:…"}` — tag/digest optional.
 * - chart: `{"chart": "registry/path/chart", "version": "1.2.3", "digest": "sha256:…"}` — a Helm chart in an OCI registry.
 * Each may add `"deleted": true`. Data that follows none of these (or names a field wrongly) is ignored with the
 * reason, not refused: an event bus forwarding everything should not be answered with errors it would retry.
 *
 * Authentication: the spec defines none (it points to bearer tokens/OIDC), so the `Authorization` header must carry
 * the receiver's token, verbatim or as `Bearer <token>`.
 */
import { z } from "zod";
import type { ChangeDraft } from "../../events/change-event.ts";
import { repoKey } from "../../flux/repo-url.ts";
import { authorizationToken } from "../authorization-token.ts";
import { classifyEvents, cloudEvents, type CloudEvent, type EventMeaning } from "../cloudevent.ts";
import { imageDraft } from "../image-change.ts";
import { splitRef, ZERO_SHA } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";
import { cdeventMeaning } from "./cdevents.ts";
import { harborEventMeaning } from "./harbor.ts";

const deleted = z.boolean().optional();
const imageData = z.object({ image: z.string().min(1), tag: z.string().min(1).optional(), digest: z.string().min(1).optional(), deleted });
const chartData = z.object({ chart: z.string().min(1), version: z.string().min(1).optional(), tag: z.string().min(1).optional(), digest: z.string().min(1).optional(), deleted });
const gitData = z.object({
  repository: z.string().min(1).optional(),
  url: z.string().min(1).optional(),
  ref: z.string().min(1).optional(),
  branch: z.string().min(1).optional(),
  tag: z.string().min(1).optional(),
  commit: z.string().regex(/^[0-9a-f]{7,64}$/, "is not a lowercase hex commit id").optional(),
  deleted,
});

/** The first zod issue as `data.<path>: <message>`. */
function issue(error: z.ZodError): string {
  const first = error.issues[0];
  return `data.${first?.path.map(String).join(".") ?? ""}: ${first?.message ?? "invalid"}`;
}

function conventionMeaning(e: CloudEvent): EventMeaning {
  const data = e.data;
  if (typeof data !== "object" || data === null || Array.isArray(data)) return { ignored: `CloudEvent ${e.type}: data is not a JSON object` };
  if ("image" in data || "chart" in data) {
    const chart = "chart" in data;
    const r = chart ? chartData.safeParse(data) : imageData.safeParse(data);
    if (!r.success) return { ignored: `CloudEvent ${e.type}: ${issue(r.error)}` };
    const d = r.data;
    const ref = "chart" in d ? d.chart : d.image;
    const tag = "version" in d ? (d.version ?? d.tag) : d.tag;
    try {
      return { changes: [imageDraft(ref, chart ? "data.chart" : "data.image", { kind: chart ? "helm" : "oci", tag, digest: d.digest, deleted: d.deleted ?? false })] };
    } catch (err) {
      return { ignored: `CloudEvent ${e.type}: ${(err as Error).message}` };
    }
  }
  if ("repository" in data || "url" in data) {
    const r = gitData.safeParse(data);
    if (!r.success) return { ignored: `CloudEvent ${e.type}: ${issue(r.error)}` };
    const d = r.data;
    const url = d.repository ?? d.url ?? "";
    const key = repoKey(url);
    if (key === undefined) return { ignored: `CloudEvent ${e.type}: data.repository ${JSON.stringify(url)} is not a repository URL` };
    const ref = d.ref ?? (d.branch !== undefined ? `refs/heads/${d.branch}` : d.tag !== undefined ? `refs/tags/${d.tag}` : undefined);
    if (ref === undefined) return { ignored: `CloudEvent ${e.type}: data names a repository but no ref, branch or tag` };
    const gone = d.deleted === true || (d.commit !== undefined && ZERO_SHA.test(d.commit));
    const change: ChangeDraft = { kind: "git", git: { urls: [url], key, ...splitRef(ref), ...(gone || d.commit === undefined ? {} : { commit: d.commit }) }, deleted: gone };
    return { changes: [change] };
  }
  return { ignored: `CloudEvent ${e.type}: data names neither a repository and ref nor an image or chart` };
}

/** What one CloudEvent means: Harbor and CDEvents by their own rules, anything else by the convention above. */
function meaning(e: CloudEvent): EventMeaning {
  if (e.type.startsWith("harbor.")) return harborEventMeaning(e.type, e.data, "data");
  if (e.type.startsWith("dev.cdevents.")) return cdeventMeaning(e.data, `CloudEvent ${e.type} (CDEvent)`);
  return conventionMeaning(e);
}

export const cloudevents: Provider = {
  name: "cloudevents",
  fluxTypes: [],

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    return authorizationToken(d.headers, secret.token, "send the receiver's token as Authorization: Bearer <token>");
  },

  classify(d: Delivery): Classified {
    return classifyEvents(cloudEvents(d), meaning);
  },
};
