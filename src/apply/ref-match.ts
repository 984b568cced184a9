/**
 * Whether a pushed ref, tag or digest can change what a Flux source selects: `GitRepository.spec.ref`,
 * `OCIRepository.spec.ref`, a HelmChart's version range, an ImageRepository's exclusion list. Version constraints
 * are Masterminds' (what Flux uses), read with the `semver` package: commas mean AND, `!=`, `=<` and `~>` are
 * rewritten, and tags are read leniently as Flux does (`v1.2` is 1.2.0).
 */
import semver from "semver";
import type { GitChange, ImageChange } from "../events/change-event.ts";
import type { GitRef, OciRef } from "./inventory-object.ts";

/** The branch a GitRepository without `spec.ref` follows (its CRD: "defaults to the 'master' branch"). */
export const GIT_DEFAULT_BRANCH = "master";

/** The tag an OCIRepository without `spec.ref` follows. */
export const OCI_DEFAULT_TAG = "latest";

/**
 * A tag as a version, or undefined when it is none: `v1.2.3`, `1.2.3-rc.1`, and the short forms `1.2` and `v2`.
 * @example tagVersion("v1.2")?.version // "1.2.0"
 */
export function tagVersion(tag: string): semver.SemVer | undefined {
  const parsed = semver.parse(tag, { loose: true });
  if (parsed !== null) return parsed;
  const short = /^v?(\d+)(?:\.(\d+))?$/.exec(tag);
  if (short === null) return undefined;
  return semver.parse(`${short[1]}.${short[2] ?? "0"}.0`) ?? undefined;
}

/**
 * Whether a tag satisfies a Flux (Masterminds) version constraint; false for tags that are not versions and for
 * constraints that do not parse.
 * @example satisfiesConstraint("v1.4.0", ">= 1.2, < 2.0") // true
 * @example satisfiesConstraint("1.4.0", "!=1.4.0") // false
 */
export function satisfiesConstraint(tag: string, constraint: string): boolean {
  const version = tagVersion(tag);
  if (version === undefined) return false;
  return constraint.split("||").some((group) => {
    const excluded: string[] = [];
    const rest = group
      .replace(/!=\s*([^\s,|]+)/g, (_, v: string) => {
        excluded.push(v);
        return " ";
      })
      .replace(/=</g, "<=")
      .replace(/~>/g, "~")
      .replace(/\s*,\s*/g, " ")
      .trim();
    if (excluded.some((v) => tagVersion(v)?.compare(version) === 0)) return false;
    const range = rest === "" ? "*" : rest;
    try {
      return semver.satisfies(version, range);
    } catch {
      return false;
    }
  });
}

/**
 * Whether a push of `change` can move what a GitRepository with `ref` checks out. A commit pin never moves; `name`
 * compares the full ref; `semver` any tag satisfying it; `tag` and `branch` their own name; no ref the default branch.
 * @example gitRefMatches({ branch: "main" }, { ref: "refs/heads/main", branch: "main", … }) // true
 */
export function gitRefMatches(ref: GitRef, change: Pick<GitChange, "ref" | "branch" | "tag">): boolean {
  if (ref.commit !== undefined) return false;
  if (ref.name !== undefined) return change.ref === ref.name;
  if (ref.semver !== undefined) return change.tag !== undefined && satisfiesConstraint(change.tag, ref.semver);
  if (ref.tag !== undefined) return change.tag === ref.tag;
  return change.branch !== undefined && change.branch === (ref.branch ?? GIT_DEFAULT_BRANCH);
}

/**
 * Whether a pushed image can change what an OCIRepository with `ref` pulls: a digest pin only by that digest; a
 * semver range (and `semverFilter`) by a tag satisfying it; a tag (default `latest`) by that tag.
 */
export function ociRefMatches(ref: OciRef, image: Pick<ImageChange, "tag" | "digest">): boolean {
  if (ref.digest !== undefined) return image.digest === ref.digest;
  const tag = image.tag;
  if (tag === undefined) return false;
  if (ref.semver !== undefined) return satisfiesConstraint(tag, ref.semver) && (ref.semverFilter === undefined || matchesRegex(ref.semverFilter, tag));
  return tag === (ref.tag ?? OCI_DEFAULT_TAG);
}

/** Whether a chart version (the pushed tag) is one a HelmChart's `spec.version` (default `*`) selects. */
export function chartVersionMatches(version: string, tag: string | undefined): boolean {
  return tag !== undefined && satisfiesConstraint(tag, version.trim() === "" ? "*" : version);
}

/** Whether an ImageRepository scans `tag`: it is not in its `exclusionList` (regular expressions). */
export function tagScanned(exclusionList: readonly string[], tag: string | undefined): boolean {
  return tag !== undefined && !exclusionList.some((re) => matchesRegex(re, tag));
}

/** Go regular expressions are mostly JavaScript's; one that does not compile matches nothing. */
function matchesRegex(pattern: string, text: string): boolean {
  try {
    return new RegExp(pattern).test(text);
  } catch {
    return false;
  }
}
