/**
 * Reading the configuration file: YAML → zod → `Config`, or a `ConfigError` that names the file, the line, the
 * key path and what was expected there, for every problem at once.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { loadAll, YAMLException } from "js-yaml";
import type { z } from "zod";
import { ConfigError } from "../errors.ts";
import type { ConfigIssue } from "../errors.ts";
import { configSchema } from "./schema.ts";
import type { Config } from "./schema.ts";
import { formatPath, yamlLines } from "./yaml-lines.ts";

/** The name used in messages for the built-in defaults (no file). */
export const EMBEDDED_DEFAULTS = "(embedded defaults)";

/** The defaults alone: what `fluxgate serve` runs on with no file. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}

/**
 * Which file to read: `--config`, else `FLUXGATE_CONFIG`, else none (defaults).
 * @example configPath(undefined, { FLUXGATE_CONFIG: "/etc/fluxgate/config.yaml" }, "/") // "/etc/fluxgate/config.yaml"
 */
export function configPath(flag: string | undefined, env: Record<string, string | undefined>, cwd: string): string | undefined {
  const p = flag ?? (env.FLUXGATE_CONFIG === "" ? undefined : env.FLUXGATE_CONFIG);
  return p === undefined ? undefined : resolve(cwd, p);
}

/** Reads and parses a configuration file; `undefined` gives the defaults. Throws `ConfigError`. */
export async function loadConfig(file: string | undefined): Promise<Config> {
  if (file === undefined) return defaultConfig();
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String(e);
    throw new ConfigError(file, [{ path: "", message: `cannot read the file: ${why}` }], { cause: e });
  }
  return parseConfig(text, file);
}

/** Parses configuration text; `file` is only used in messages. Throws `ConfigError`. */
export function parseConfig(text: string, file: string): Config {
  let doc: unknown;
  try {
    const docs = loadAll(text, { filename: file });
    if (docs.length > 1) throw new ConfigError(file, [{ path: "", message: `expected one YAML document, found ${docs.length}` }]);
    doc = docs[0];
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if (e instanceof YAMLException) {
      const line = e.mark === undefined ? undefined : e.mark.line + 1;
      throw new ConfigError(file, [{ path: "", message: `not valid YAML: ${e.reason}`, ...(line === undefined ? {} : { line }) }], { cause: e });
    }
    throw new ConfigError(file, [{ path: "", message: `not valid YAML: ${String(e)}` }], { cause: e });
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(file, [{ path: "", message: `expected a mapping of settings, got ${describe(doc)}` }]);
  }
  const result = configSchema.safeParse(doc, { reportInput: true });
  if (result.success) return result.data;
  const lines = yamlLines(text);
  const issues = result.error.issues.flatMap((issue) => toConfigIssues(issue, lines));
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  throw new ConfigError(file, issues);
}

function toConfigIssues(issue: z.core.$ZodIssue, lines: Map<string, number>): ConfigIssue[] {
  const at = (path: string, message: string): ConfigIssue => {
    const line = lineFor(path, lines);
    return line === undefined ? { path, message } : { path, message, line };
  };
  const path = formatPath(issue.path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = knownKeys(issue.path);
      const allowed = known.length > 0 ? `; expected one of: ${known.join(", ")}` : "";
      return issue.keys.map((k) => at(formatPath([...issue.path, k]), `unknown key${allowed}`));
    }
    case "invalid_type":
    {
      // Schemas with a custom type message (durations, addresses) say what form they expect; keep that wording.
      const expected = issue.message.startsWith("Invalid input") ? `expected ${issue.expected}` : issue.message;
      return [at(path, issue.input === undefined ? `required: ${expected}` : `${expected}, got ${describe(issue.input)}`)];
    }
    case "invalid_value":
      return [at(path, `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${describe(issue.input)}`)];
    case "invalid_union": {
      // Our unions are "number or string" style; the most useful message is the first branch's own custom one.
      const inner = issue.errors.flat().find((i) => i.code === "custom");
      return [at(path, inner?.message ?? `expected ${unionExpectation(issue)}, got ${describe(issue.input)}`)];
    }
    case "too_small":
      return [at(path, issue.origin === "array" ? `expected at least ${String(issue.minimum)} item(s)` : issue.origin === "string" ? "expected a non-empty string" : `expected at least ${String(issue.minimum)}`)];
    default:
      return [at(path, issue.message)];
  }
}

function unionExpectation(issue: z.core.$ZodIssueInvalidUnion): string {
  const kinds = issue.errors.flat().flatMap((i) => (i.code === "invalid_type" ? [i.expected] : []));
  return kinds.length > 0 ? [...new Set(kinds)].join(" or ") : "a valid value";
}

/** The closest line we know: the key itself, else its nearest parent that is in the file. */
function lineFor(path: string, lines: Map<string, number>): number | undefined {
  let p = path;
  while (p !== "") {
    const l = lines.get(p);
    if (l !== undefined) return l;
    p = p.replace(/(\.[^.[\]]*|\[\d+\])$/, "");
    if (!/[.[]/.test(p) && lines.get(p) === undefined) return undefined;
  }
  return undefined;
}

/** The keys the schema allows at a path, for "unknown key" messages. */
function knownKeys(path: ReadonlyArray<PropertyKey>): string[] {
  let s = unwrap(configSchema as unknown as z.core.$ZodType);
  for (const seg of path) {
    const def = s._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType };
    if (def.type === "object" && typeof seg === "string" && def.shape?.[seg] !== undefined) s = unwrap(def.shape[seg]);
    else if (def.type === "array" && typeof seg === "number" && def.element !== undefined) s = unwrap(def.element);
    else return [];
  }
  const def = s._zod.def as { type: string; shape?: Record<string, unknown> };
  return def.type === "object" && def.shape !== undefined ? Object.keys(def.shape) : [];
}

function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  let cur = s;
  for (;;) {
    const def = cur._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType !== undefined) cur = def.innerType;
    else if (def.type === "pipe" && def.in !== undefined) cur = def.in;
    else return cur;
  }
}

/** How a value reads in a message: its YAML type and, when short, the value. */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  const text = JSON.stringify(v);
  return `${typeof v === "string" ? "string" : typeof v} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}
