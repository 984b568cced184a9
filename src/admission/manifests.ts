/**
 * Kubernetes manifests on disk, for judging them offline (`fluxgate check`): which YAML files a set of paths holds,
 * and each file's documents with the line of every key path, so a violation can point at `file:line`. Files that
 * a kustomization.yaml names as patches are partial objects, not resources, and are set aside.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { constructFromEvents, parseEvents, YAMLException } from "js-yaml";
import type { Event } from "js-yaml";
import { documentLines } from "../config/yaml-lines.ts";

/** One YAML document of a file. */
export type ManifestDocument = {
  /** 0-based position among the file's documents. */
  index: number;
  /** 1-based line where the document's content starts (its first key). */
  line: number;
  /** The document as `loadAll` reads it; `null` for an empty document. */
  value: unknown;
  /** Line of every key path (`spec.sourceRef.namespace`, `spec.dependsOn[1]`) in the document. */
  lines: Map<string, number>;
};

/** A manifest that cannot be read: where and why. */
export class ManifestError extends Error {
  override name = "ManifestError";
  readonly file: string;
  readonly line: number | undefined;
  /** What is wrong, without the location. */
  readonly detail: string;
  constructor(file: string, line: number | undefined, detail: string, options?: { cause?: unknown }) {
    super(`${line === undefined ? file : `${file}:${line}`}: ${detail}`, options);
    this.file = file;
    this.line = line;
    this.detail = detail;
  }
}

/**
 * Every document of a (multi-document) YAML text, with lines. Throws `ManifestError` with the line of a syntax error.
 * @example parseManifests("a: 1\n---\nb: 2\n", "x.yaml").map((d) => d.line) // [1, 3]
 */
export function parseManifests(text: string, file: string): ManifestDocument[] {
  let events: Event[];
  let values: unknown[];
  try {
    events = parseEvents(text, { filename: file });
    values = constructFromEvents(events, { source: text, filename: file });
  } catch (e) {
    if (e instanceof YAMLException) throw new ManifestError(file, e.mark === undefined ? undefined : e.mark.line + 1, `not valid YAML: ${e.reason}`, { cause: e });
    throw new ManifestError(file, undefined, `not valid YAML: ${String(e)}`, { cause: e });
  }
  return documentLines(events, text).map((d, index) => ({ index, line: d.line, value: values[index] ?? null, lines: d.lines }));
}

/**
 * The line of a key path in a document, else of its nearest parent that is in the file, else the document's line.
 * @example lineOf(doc, "spec.sourceRef.namespace") // the line of `namespace:`, or of `sourceRef:` when it is missing
 */
export function lineOf(doc: ManifestDocument, path: string): number {
  let p = path;
  while (p !== "") {
    const l = doc.lines.get(p);
    if (l !== undefined) return l;
    const shorter = p.replace(/(\.[^.[\]]*|\[\d+\])$/, "");
    if (shorter === p) break;
    p = shorter;
  }
  return doc.line;
}

const YAML_FILE = /\.ya?ml$/i;
const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/** What a set of paths holds. */
export type ManifestFiles = {
  /** YAML files to judge, absolute, in a stable order (given order; sorted within a directory). */
  files: string[];
  /** Files set aside because a kustomization.yaml in their directory tree names them as patches. */
  patches: string[];
  /** Paths that could not be read (missing, no permission); the rest is still listed. */
  errors: ManifestError[];
};

/**
 * The YAML files under `paths` (files as given, directories recursively, skipping dot-directories), without the
 * patch files their kustomization.yaml files name. Paths that cannot be read are returned as errors.
 */
export async function manifestFiles(paths: string[], cwd: string): Promise<ManifestFiles> {
  const files: string[] = [];
  const patches = new Set<string>();
  const seen = new Set<string>();
  const errors: ManifestError[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      errors.push(new ManifestError(dir, undefined, `cannot read the directory: ${describeFsError(e)}`, { cause: e }));
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const name of KUSTOMIZATION_FILES) {
      if (entries.some((e) => e.isFile() && e.name === name)) for (const p of await kustomizePatches(join(dir, name))) patches.add(p);
    }
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory() && !e.name.startsWith(".")) await walk(full);
      else if (e.isFile() && YAML_FILE.test(e.name) && !seen.has(full)) {
        seen.add(full);
        files.push(full);
      }
    }
  };
  for (const p of paths) {
    const full = resolve(cwd, p);
    let s;
    try {
      s = await stat(full);
    } catch (e) {
      errors.push(new ManifestError(p, undefined, describeFsError(e), { cause: e }));
      continue;
    }
    if (s.isDirectory()) await walk(full);
    else if (!seen.has(full)) {
      // A file named on the command line is judged even when it is a patch: the user asked for it.
      seen.add(full);
      files.push(full);
    }
  }
  const given = new Set(paths.map((p) => resolve(cwd, p)));
  return { files: files.filter((f) => given.has(f) || !patches.has(f)), patches: files.filter((f) => !given.has(f) && patches.has(f)), errors };
}

/** The patch files a kustomization.yaml names (`patches[].path`, `patchesStrategicMerge`, `patchesJson6902[].path`). */
async function kustomizePatches(file: string): Promise<string[]> {
  let docs: ManifestDocument[];
  try {
    docs = parseManifests(await readFile(file, "utf8"), file);
  } catch {
    return []; // judged (and reported) like any other file when it is YAML
  }
  const k = docs[0]?.value;
  if (typeof k !== "object" || k === null || Array.isArray(k)) return [];
  const out: string[] = [];
  const rec = k as Record<string, unknown>;
  const add = (p: unknown) => {
    if (typeof p === "string" && !p.includes("\n")) out.push(resolve(dirname(file), p));
  };
  for (const key of ["patches", "patchesJson6902"]) {
    const list = rec[key];
    if (Array.isArray(list)) for (const item of list) if (typeof item === "object" && item !== null) add((item as Record<string, unknown>)["path"]);
  }
  const smp = rec["patchesStrategicMerge"];
  if (Array.isArray(smp)) for (const p of smp) add(p);
  return out;
}

function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : String((e as Error).message ?? e);
}
