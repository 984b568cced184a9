/**
 * Git repository URLs in every form a provider or a `GitRepository.spec.url` writes them, reduced to one key so
 * they can be compared: `https://github.com/Org/App.git`, `ssh://git@github.com/org/app`, `git@github.com:org/app.git`
 * and `git://github.com/org/app.git` all become `github.com/org/app`.
 */
import { memo } from "../memo.ts";

const DEFAULT_PORTS: Record<string, string> = { "https:": "443", "http:": "80", "ssh:": "22", "git:": "9418" };

/** scp-like syntax `[user@]host:path` (no scheme, and the colon is not followed by `//`). */
const SCP = /^(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+):(?!\/\/)(.+)$/;

/**
 * The comparison key of a repository URL: lowercase host, non-default port kept, no user, no trailing `/` or `.git`,
 * path lowercased (GitHub, GitLab and Bitbucket treat owner and repository names case-insensitively).
 * Returns undefined for text that is not a repository URL. Memoised: the same few URLs come with every push, and
 * parsing them was the largest part of routing a burst and a visible part of each delivery.
 * @example repoKey("git@github.com:fluxcd/flux2.git") // "github.com/fluxcd/flux2"
 */
export const repoKey: (url: string) => string | undefined = memo(computeRepoKey, 10_000);

function computeRepoKey(url: string): string | undefined {
  const text = url.trim();
  if (text === "") return undefined;
  let host: string;
  let port = "";
  let path: string;
  const scp = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? null : SCP.exec(text);
  if (scp !== null) {
    host = scp[1] ?? "";
    path = scp[2] ?? "";
  } else {
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      return undefined;
    }
    if (!["https:", "http:", "ssh:", "git:", "git+ssh:", "ssh+git:"].includes(u.protocol)) return undefined;
    host = u.hostname;
    const scheme = u.protocol === "git+ssh:" || u.protocol === "ssh+git:" ? "ssh:" : u.protocol;
    port = u.port !== "" && u.port !== DEFAULT_PORTS[scheme] ? `:${u.port}` : "";
    path = decodeURIComponent(u.pathname);
  }
  path = path.replace(/^\/+/, "").replace(/\/+$/, "").replace(/\.git$/i, "").replace(/\/+$/, "");
  if (host === "" || path === "") return undefined;
  return `${host.toLowerCase()}${port}/${path.toLowerCase()}`;
}

/**
 * The comparison key of an OCI image or repository reference: registry host lowercased, `docker.io` for Docker Hub
 * short names (`library/` added for official images), tag and digest dropped, `oci://` scheme dropped.
 * @example imageKey("nginx:1.27") // "docker.io/library/nginx"
 */
export function imageKey(ref: string): string | undefined {
  let text = ref.trim().replace(/^oci:\/\//i, "").replace(/^https?:\/\//i, "");
  if (text === "") return undefined;
  text = text.replace(/@sha256:[0-9a-f]{64}$/i, "");
  const lastSlash = text.lastIndexOf("/");
  const colon = text.lastIndexOf(":");
  if (colon > lastSlash) text = text.slice(0, colon);
  text = text.replace(/\/+$/, "");
  if (text === "") return undefined;
  const first = text.split("/")[0] ?? "";
  const hasRegistry = text.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  let key = hasRegistry ? text : `docker.io/${text.includes("/") ? text : `library/${text}`}`;
  key = key.replace(/^(index\.docker\.io|registry-1\.docker\.io|registry\.hub\.docker\.com)\//i, "docker.io/");
  const [registry = "", ...rest] = key.split("/");
  return [registry.toLowerCase(), ...rest].join("/").toLowerCase();
}
