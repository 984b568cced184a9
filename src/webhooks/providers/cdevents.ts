/**
 * CDEvents (cdevents/spec, CloudEvents binding): the body is the CDEvent `{context, subject}`; `ce-*` headers mirror
 * its context in binary mode. Structured and batched CloudEvents are accepted too (Flux accepts only the bare
 * body). Changes, by `context.type` `dev.cdevents.<subject>.<predicate>.<version>`:
 * - `change.merged`: a git change of `subject.content.repository`. CDEvents do not say into which branch (nor the
 *   commit), so the ref is `HEAD`, Git's name for the repository's default branch, where merges usually land.
 * - `branch.created` / `branch.deleted`: `refs/heads/<subject.id>` of that repository (deleted for the latter).
 * - `artifact.published` / `artifact.packaged`: the image named by the purl in `subject.id`
 *   (`pkg:oci/<name>@<digest>?repository_url=<registry/path>&tag=<tag>`, or `pkg:docker/...`).
 * Everything else is ignored. A repository reference `{id, source}` becomes a URL: `id` itself when it is one, else
 * `<source>/<id>` (`https://` added to a bare host such as the spec's `my-git.example`).
 *
 * Authentication: none, as in the CDEvents spec and Flux's `cdevents` type: the `/hook/<sha256>` path is the only
 * secret. `eventType` is the `ce-type` header when sent (what Flux's `spec.events` filter compares), else `context.type`.
 */
import { PackageURL } from "packageurl-js";
import { z } from "zod";
import type { ChangeDraft } from "../../events/change-event.ts";
import { RequestError } from "../../errors.ts";
import { repoKey } from "../../flux/repo-url.ts";
import { classifyEvents, cloudEventMode, cloudEvents, type CloudEvent, type EventMeaning } from "../cloudevent.ts";
import { imageOf } from "../image-change.ts";
import { jsonBody, payload } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider } from "../provider.ts";

const TYPE = /^dev\.cdevents\.([a-z]+)\.([a-z]+)\.(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$/;

const repositoryRef = z.object({ id: z.string().min(1), source: z.string().optional() });
const cdevent = z.object({
  context: z.object({
    version: z.string().min(1),
    id: z.string().min(1),
    source: z.string().min(1),
    type: z.string().regex(TYPE, "is not dev.cdevents.<subject>.<predicate>.<version>"),
    timestamp: z.string().min(1),
  }),
  subject: z.object({
    id: z.string().min(1),
    source: z.string().optional(),
    type: z.string().optional(),
    content: z.record(z.string(), z.unknown()),
  }),
});
type CDEvent = z.output<typeof cdevent>;

/** A repository reference as a clone URL and its key, or undefined when it names no URL. */
function repositoryUrl(ref: z.output<typeof repositoryRef>, fallbackSource: string | undefined): { url: string; key: string } | undefined {
  const candidates = [ref.id];
  const base = (ref.source ?? fallbackSource ?? "").replace(/\/+$/, "");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(base)) candidates.push(`${base}/${ref.id}`);
  // A source that is a bare host name (not a path such as `/event/source/123`).
  else if (/^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?$/i.test(base)) candidates.push(`https://${base}/${ref.id}`);
  for (const url of candidates) {
    // A bare `org/repo` id is no URL; repoKey would reject it anyway, but only URLs with a host are wanted here.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^[^/]+@[^/:]+:/.test(url)) continue;
    const key = repoKey(url);
    if (key !== undefined) return { url, key };
  }
  return undefined;
}

function gitMeaning(e: CDEvent, ref: string, deleted: boolean): EventMeaning {
  const raw = e.subject.content.repository;
  if (raw === undefined) return { ignored: `${e.context.type} without subject.content.repository: the repository is unknown` };
  const repo = payload(repositoryRef, raw, "CDEvent subject.content.repository");
  const resolved = repositoryUrl(repo, e.subject.source ?? e.context.source);
  if (resolved === undefined) return { ignored: `repository ${JSON.stringify(repo.id)} (source ${JSON.stringify(repo.source ?? "")}) does not resolve to a repository URL` };
  const branch = ref.startsWith("refs/heads/") ? { branch: ref.slice("refs/heads/".length) } : {};
  const change: ChangeDraft = { kind: "git", git: { urls: [resolved.url], key: resolved.key, ref, ...branch }, deleted };
  return { changes: [change] };
}

/** The image a purl names, or why it names none. 400 for a purl that does not parse. */
function purlMeaning(purl: string): EventMeaning {
  let p: PackageURL;
  try {
    p = PackageURL.fromString(purl);
  } catch (e) {
    throw new RequestError(400, "MalformedPayload", `CDEvent subject.id is not a package URL: ${JSON.stringify(purl)} (${(e as Error).message})`);
  }
  const q = p.qualifiers ?? {};
  const registry = q.repository_url?.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
  if (p.type === "oci") {
    if (registry === undefined || registry === "") return { ignored: `artifact ${purl} has no repository_url qualifier: the registry is unknown` };
    // repository_url is the whole repository (`gcr.io/distroless/static` for name `static`); some producers give
    // only its parent, so the name is added when the last segment is not already it.
    const repository = registry.split("/").at(-1)?.toLowerCase() === p.name.toLowerCase() ? registry : `${registry}/${p.name}`;
    const digest = p.version ?? undefined;
    return { changes: [{ kind: "oci", image: imageOf(repository, { tag: q.tag, digest }, "subject.id repository_url"), deleted: false }] };
  }
  if (p.type === "docker") {
    const repository = `${registry ?? "docker.io"}/${p.namespace === undefined || p.namespace === null ? "" : `${p.namespace}/`}${p.name}`;
    const version = p.version ?? undefined;
    const details = version === undefined ? {} : version.includes(":") ? { digest: version } : { tag: version };
    return { changes: [{ kind: "oci", image: imageOf(repository, details, "subject.id"), deleted: false }] };
  }
  return { ignored: `artifact ${purl} is a ${p.type} package, not a container image` };
}

/**
 * What a CDEvent means. 400 when it is not a CDEvent (missing context or subject fields); `what` names the event in
 * messages. Also used by the `cloudevents` provider for CDEvents sent to a generic CloudEvents receiver.
 */
export function cdeventMeaning(value: unknown, what = "CDEvent"): EventMeaning {
  const e = payload(cdevent, value, what);
  const [, subject, predicate] = TYPE.exec(e.context.type) ?? [];
  switch (`${subject}.${predicate}`) {
    case "change.merged":
      return gitMeaning(e, "HEAD", false);
    case "branch.created":
      return gitMeaning(e, `refs/heads/${e.subject.id}`, false);
    case "branch.deleted":
      return gitMeaning(e, `refs/heads/${e.subject.id}`, true);
    case "artifact.published":
    case "artifact.packaged":
      return purlMeaning(e.subject.id);
    default:
      return { ignored: `CDEvent ${e.context.type} does not change a source` };
  }
}

const bareContext = z.object({ context: z.object({ id: z.string().min(1), source: z.string().min(1), type: z.string().min(1) }) });

/** A CDEvent posted without CloudEvents attributes (Flux needs only `Ce-Type`, for its event filter). */
function bareEvent(d: Delivery): CloudEvent {
  const data = jsonBody(d.body);
  const { context } = payload(bareContext, data, "CDEvent");
  return { specversion: "1.0", id: context.id, source: context.source, type: d.headers.get("ce-type") ?? context.type, data };
}

export const cdevents: Provider = {
  name: "cdevents",
  fluxTypes: ["cdevents"],

  /** Always authentic: CDEvents define no authentication and Flux checks none; the URL is the secret. */
  authenticate(): AuthResult {
    return { ok: true };
  },

  classify(d: Delivery): Classified {
    const events = cloudEventMode(d.headers) === undefined ? [bareEvent(d)] : cloudEvents(d);
    return classifyEvents(events, (e) => cdeventMeaning(e.data));
  },
};
