/**
 * Building the `git` ChangeDraft every Git host's provider ends with, so each provider only says where its payload
 * keeps the clone URLs, the ref and the new commit.
 */
import { z } from "zod";
import type { ChangeDraft } from "../../events/change-event.ts";
import { repoKey } from "../../flux/repo-url.ts";
import { RequestError } from "../../errors.ts";
import { splitRef } from "../payload.ts";

/** A full Git object id as payloads send it: SHA-1 (40 hex) or SHA-256 (64 hex) repositories. */
export const objectId = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, "expected a 40 or 64 character lowercase hex object id");

/** What a provider read from its payload for one moved ref. */
export type GitRefUpdate = {
  /** Clone URLs, the one to key on first; empty and repeated entries are dropped. */
  urls: readonly (string | null | undefined)[];
  /** The payload field the first URL came from, for the 400 message when it is not a repository URL. */
  urlField: string;
  /** Full ref (`refs/heads/main`, `refs/tags/v1`). */
  ref: string;
  /** The payload field the ref came from, for the 400 message when it names no branch or tag. */
  refField: string;
  /** The commit the ref now points to, when the payload says; dropped for a deletion. */
  commit?: string | undefined;
  deleted: boolean;
};

/**
 * The git ChangeDraft for one ref update; 400 `MalformedPayload` when the first URL is not a repository URL or the ref
 * is empty or a bare `refs/heads/` / `refs/tags/`.
 * @example gitDraft({ urls: [p.clone_url, p.ssh_url], urlField: "repository.clone_url", ref: p.ref, refField: "ref", commit: p.after, deleted: false })
 */
export function gitDraft(u: GitRefUpdate): ChangeDraft {
  const urls = [...new Set(u.urls.filter((x): x is string => typeof x === "string" && x !== ""))];
  const first = urls[0] ?? "";
  const key = repoKey(first);
  if (key === undefined) throw new RequestError(400, "MalformedPayload", `${u.urlField} is not a repository URL: ${JSON.stringify(first)}`);
  const ref = splitRef(u.ref);
  if (u.ref === "" || ref.branch === "" || ref.tag === "") throw new RequestError(400, "MalformedPayload", `${u.refField} names no branch or tag: ${JSON.stringify(u.ref)}`);
  const commit = u.deleted || u.commit === undefined ? {} : { commit: u.commit };
  return { kind: "git", git: { urls, key, ...ref, ...commit }, deleted: u.deleted };
}

/** The full ref of a branch or tag some payloads name short (`main`) and some in full (`refs/heads/main`). */
export function fullRef(name: string, type: "branch" | "tag"): string {
  const prefix = type === "tag" ? "refs/tags/" : "refs/heads/";
  return name.startsWith(prefix) ? name : `${prefix}${name}`;
}
