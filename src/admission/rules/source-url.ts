/**
 * Where sources fetch from. Flux has no allow-list for `spec.url`/`endpoint`/`image` and no switch against plain
 * HTTP, so Fluxgate matches each location, reduced to `host/path` (`repoKey` for Git and Helm URLs, `imageKey` for
 * OCI), against the tenant's globs, and denies `http://` and `insecure: true` unless the tenant allows them.
 */
import { globMatcher } from "../../policy/glob.ts";
import { valueAt } from "../../flux/field-paths.ts";
import type { SourceLocation } from "../../flux/field-paths.ts";
import { imageKey, repoKey } from "../../flux/repo-url.ts";
import type { Violation } from "../rule.ts";
import { anyOf, show } from "./admission-rule.ts";
import type { AdmissionRule } from "./admission-rule.ts";

const name = "source-url";

/**
 * The comparison key of a source location: host (lowercase, non-default port kept) and
 * path, without scheme, user, `.git` or tag; undefined when the text is not a location.
 * @example sourceKey("git@github.com:fluxcd/flux2.git") // "github.com/fluxcd/flux2"
 * @example sourceKey("oci://ghcr.io/stefanprodan/charts/podinfo") // "ghcr.io/stefanprodan/charts/podinfo"
 * @example sourceKey("https://helm.cilium.io/") // "helm.cilium.io"
 * @example sourceKey("minio.example.com:9000/backups", "bucket") // "minio.example.com:9000/backups"
 */
export function sourceKey(text: string, form: SourceLocation["form"] = "url"): string | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  if (form === "image" || /^oci:\/\//i.test(t)) return imageKey(t);
  if (form === "bucket") return /^[^\s/@]+\/[^\s/]+$/.test(t) ? t.toLowerCase() : undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    // `ssh://git@host:org/repo` (scp path after an ssh:// scheme) is invalid but common; read it as scp syntax.
    return repoKey(t) ?? hostKey(t) ?? (/^ssh:\/\//i.test(t) ? repoKey(t.slice("ssh://".length)) : undefined);
  }
  return repoKey(t);
}

/** `host[:port]` of a URL without a path (`https://helm.cilium.io/`), which `repoKey` does not take. */
function hostKey(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.hostname === "" || (u.pathname !== "" && u.pathname !== "/")) return undefined;
    return u.host.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Ports that `repoKey` drops, by scheme. */
const DEFAULT_PORTS: Record<string, string> = { https: "443", http: "80", ssh: "22", git: "9418" };

/**
 * The key of an allow-list pattern, reduced the way `sourceKey` reduces locations. Done by hand rather than with
 * `URL`: glob characters must survive (`?` would start a query, `*` in a host would be punycoded).
 * @example patternKey("ssh://git@github.com:fluxcd/?*") // "github.com/fluxcd/?*"
 */
export function patternKey(pattern: string): string {
  let t = pattern.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(t)?.[1]?.toLowerCase();
  if (scheme !== undefined) t = t.slice(scheme.length + 3);
  t = t.replace(/^[^@/]+@/, "").replace(/^([^/:]+):(?!\d+(?:\/|$))/, "$1/");
  const port = scheme === undefined ? undefined : DEFAULT_PORTS[scheme];
  if (port !== undefined) t = t.replace(new RegExp(`^([^/]+):${port}(?=/|$)`), "$1");
  return t.replace(/\/+$/, "").replace(/\.git$/i, "").replace(/\/+$/, "").toLowerCase();
}

export const sourceUrl: AdmissionRule = {
  name,
  summary: "Sources fetch only from locations matching the tenant's sources.urls, and over TLS unless it has sources.allowInsecure.",
  check({ object, paths, tenant }) {
    const { urls, allowInsecure } = tenant.sources;
    const tls = `tenant "${tenant.name}" may use only TLS sources`;
    const violations: Violation[] = [];
    if (paths.sources.length > 0) {
      const matchers = urls.map((p) => globMatcher(patternKey(p)));
      const where = urls.length === 0 ? `tenant "${tenant.name}" has no allowed sources` : `tenant "${tenant.name}" may use only ${anyOf(urls.map((u) => show(u)))}`;
      for (const location of paths.sources) {
        const value = valueAt(object, location.path);
        if (typeof value !== "string" || value === "") continue;
        const bucket = location.bucketNamePath === undefined ? undefined : valueAt(object, location.bucketNamePath);
        const text = typeof bucket === "string" ? `${value}/${bucket}` : value;
        const key = sourceKey(text, location.form);
        if (key === undefined) {
          violations.push({ rule: name, path: location.path, value, message: `${location.path}: ${show(value)} is not a location Fluxgate can read; ${where}` });
          continue;
        }
        if (!allowInsecure && /^http:\/\//i.test(value)) {
          violations.push({ rule: name, path: location.path, value, message: `${location.path}: ${show(value)} uses plain HTTP; ${tls}` });
        }
        if (!matchers.some((m) => m(key))) {
          violations.push({ rule: name, path: location.path, value, message: `${location.path}: ${show(value)} (${key}) is not an allowed source; ${where}` });
        }
      }
    }
    if (!allowInsecure) {
      for (const path of paths.insecure) {
        if (valueAt(object, path) === true) violations.push({ rule: name, path, value: true, message: `${path}: true allows plain HTTP; ${tls}` });
      }
    }
    return violations;
  },
};
