/**
 * The receivers the route serves, indexed by path. Built from the configuration (and, later, from the cluster's
 * Flux `Receiver` objects); rebuilt on reload. Secrets are read here, once per build, never logged.
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import picomatch from "picomatch";
import { ConfigError } from "../errors.ts";
import type { ConfigIssue } from "../errors.ts";
import type { Provider, ReceiverSecret } from "./provider.ts";
import { PROVIDERS } from "./providers/index.ts";
import type { ReceiverConfig, SecretSource } from "./receiver-config.ts";

/**
 * Flux's webhook path: `/hook/` + hex sha256 of token + name + namespace, concatenated without separators.
 * @example webhookPath("s3cr3t", "github-receiver", "flux-system") // "/hook/605dbd49…96a1"
 */
export function webhookPath(token: string, name: string, namespace: string): string {
  return `/hook/${createHash("sha256").update(token + name + namespace).digest("hex")}`;
}

export type Receiver = {
  name: string;
  namespace: string;
  type: string;
  path: string;
  /** Providers that may have sent a delivery of this type; the first that recognises it handles it. */
  providers: readonly Provider[];
  secret: ReceiverSecret;
  events: readonly string[];
  /** Whether a ref or tag passes the receiver's `refs` globs. */
  refMatches(ref: { ref?: string; branch?: string; tag?: string }): boolean;
  deletions: boolean;
  suspend: boolean;
  /** Where it was read from: the configuration file, the cluster, or the manifests of `serve --manifests`. */
  source: "config" | "cluster" | "manifests";
};

export type ReceiverIndex = { byPath: ReadonlyMap<string, Receiver>; all: readonly Receiver[] };

/** Providers serving a receiver type: the provider of that name, else those serving the Flux type. */
export function providersFor(type: string, providers: readonly Provider[] = PROVIDERS): Provider[] {
  const own = providers.filter((p) => p.name === type);
  const flux = providers.filter((p) => p.name !== type && p.fluxTypes.includes(type));
  return [...own, ...flux];
}

/** Reads a secret source; `baseDir` resolves relative paths. */
export async function readSecret(source: SecretSource, env: Record<string, string | undefined>, baseDir: string): Promise<Record<string, string>> {
  const chomp = (s: string) => s.replace(/\r?\n$/, "");
  if ("env" in source) {
    const v = env[source.env];
    if (v === undefined || v === "") throw new Error(`environment variable ${source.env} is not set`);
    return { token: chomp(v) };
  }
  if ("file" in source) {
    const path = isAbsolute(source.file) ? source.file : join(baseDir, source.file);
    return { token: chomp(await readFile(path, "utf8")) };
  }
  const dir = isAbsolute(source.dir) ? source.dir : join(baseDir, source.dir);
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    // A mounted Secret holds `..data` and timestamped dirs beside symlinks named after the keys.
    if (entry.name.startsWith(".") || entry.isDirectory()) continue;
    out[entry.name] = await readFile(join(dir, entry.name), "utf8");
  }
  return out;
}

function globMatcher(patterns: readonly string[]): Receiver["refMatches"] {
  if (patterns.length === 0) return () => true;
  const full = patterns.filter((p) => p.startsWith("refs/")).map((p) => picomatch(p));
  const short = patterns.filter((p) => !p.startsWith("refs/")).map((p) => picomatch(p));
  return (r) => {
    const name = r.branch ?? r.tag;
    return (r.ref !== undefined && full.some((m) => m(r.ref ?? ""))) || (name !== undefined && short.some((m) => m(name)));
  };
}

/**
 * Builds the index from configured receivers. Throws `ConfigError` naming every receiver whose secret cannot be read
 * or lacks a key its provider needs, or whose path collides with another's.
 */
export async function buildReceiverIndex(configs: readonly ReceiverConfig[], options: { file: string; env: Record<string, string | undefined>; baseDir: string }): Promise<ReceiverIndex> {
  const issues: ConfigIssue[] = [];
  const all: Receiver[] = [];
  for (const [i, c] of configs.entries()) {
    const at = `receivers[${i}]`;
    const providers = providersFor(c.type);
    if (providers.length === 0) {
      issues.push({ path: `${at}.type`, message: `no provider serves type "${c.type}" yet` });
      continue;
    }
    let secret: Record<string, string>;
    try {
      secret = await readSecret(c.secret, options.env, options.baseDir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      issues.push({ path: `${at}.secret`, message: `cannot read the secret of receiver ${c.namespace}/${c.name}: ${code ?? (e as Error).message}` });
      continue;
    }
    const token = secret.token;
    if (token === undefined) {
      issues.push({ path: `${at}.secret`, message: `the secret of receiver ${c.namespace}/${c.name} has no "token" key` });
      continue;
    }
    const missing = [...new Set(providers.flatMap((p) => p.secretKeys ?? []))].filter((k) => secret[k] === undefined && providers.every((p) => p.secretKeys?.includes(k) === true));
    if (missing.length > 0) {
      issues.push({ path: `${at}.secret`, message: `receiver ${c.namespace}/${c.name} (${c.type}) needs secret keys ${missing.map((k) => `"${k}"`).join(", ")} (use secret.dir with one file per key)` });
      continue;
    }
    all.push(receiverEntry({ ...c, secret, source: "config" }));
  }
  const byPath = new Map<string, Receiver>();
  for (const r of all) {
    const other = byPath.get(r.path);
    if (other !== undefined) issues.push({ path: "receivers", message: `receivers ${other.namespace}/${other.name} and ${r.namespace}/${r.name} have the same path` });
    byPath.set(r.path, r);
  }
  if (issues.length > 0) throw new ConfigError(options.file, issues);
  return { byPath, all };
}

/** A served receiver from its settings and secret (which must hold `token`). */
export function receiverEntry(r: {
  name: string;
  namespace: string;
  type: string;
  secret: Record<string, string>;
  events: readonly string[];
  refs: readonly string[];
  deletions: boolean;
  suspend: boolean;
  source: Receiver["source"];
}): Receiver {
  return {
    name: r.name,
    namespace: r.namespace,
    type: r.type,
    path: webhookPath(r.secret.token ?? "", r.name, r.namespace),
    providers: providersFor(r.type),
    secret: r.secret,
    events: r.events,
    refMatches: globMatcher(r.refs),
    deletions: r.deletions,
    suspend: r.suspend,
    source: r.source,
  };
}

/**
 * Both sources in one index. A path configured in the file wins over the same path from the cluster (the file is
 * the operator's explicit word), and the clash is reported.
 */
export function mergeReceiverIndexes(config: ReceiverIndex, cluster: readonly Receiver[], onClash: (path: string, kept: Receiver, dropped: Receiver) => void): ReceiverIndex {
  const byPath = new Map(config.byPath);
  const all = [...config.all];
  for (const r of cluster) {
    const kept = byPath.get(r.path);
    if (kept !== undefined) {
      onClash(r.path, kept, r);
      continue;
    }
    byPath.set(r.path, r);
    all.push(r);
  }
  return { byPath, all };
}
