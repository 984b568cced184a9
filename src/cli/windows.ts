/**
 * `fluxgate windows`: every deployment window, whether it is active at an instant (now by default) and its next
 * starts and ends, in its own zone and in UTC; as a table or JSON.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { load } from "js-yaml";
import { z } from "zod";
import { configPath, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { formatDuration } from "../config/duration.ts";
import { ConfigError, UsageError } from "../errors.ts";
import { windowActivity, windowConcernsTenant, windowPolicySchema } from "../policy/windows.ts";
import type { Window, WindowPolicy } from "../policy/windows.ts";
import { formatLocal, formatUtc } from "../policy/zoned-time.ts";
import type { Command, Io, ParsedArgs } from "./command.ts";
import { stringFlag } from "./command.ts";
import { loadStaticCluster, staticPolicy } from "../manifests/static-cluster.ts";

/** The window policy of a loaded configuration. */
export function windowPolicyOfConfig(config: Config): WindowPolicy {
  return { windows: config.policy.windows, breakGlass: config.policy.breakGlass };
}

const help = `Usage: fluxgate windows [flags]

Lists every deployment window: whether it is active at an instant (now by default) and when it next starts and
ends, local to the window's time zone and in UTC. An active allow window lets changes through for the objects it
applies to; an active deny window holds them, whatever allow windows say.

Flags:
  -c, --config <file>     configuration file (default $FLUXGATE_CONFIG); windows come from policy.windows
      --manifests <dir>   also the windows of the FluxgatePolicy objects in this folder (as serve --manifests)
      --windows <file>    read the windows from this YAML file instead ({windows: [...], breakGlass: {...}})
      --at <time>         the instant to look at, RFC 3339 with a zone: 2026-12-24T18:00:00Z, 2026-12-24T19:00:00+01:00
      --tenant <name>     only windows that apply to this tenant (and those not limited to tenants)
  -o, --output text|json  output format (default text)
  -h, --help              this help

Examples:
  fluxgate windows
  fluxgate windows --at 2026-12-24T18:00:00Z --tenant dev-team
  fluxgate windows --windows windows.yaml --output json
  fluxgate windows --manifests examples/trial
`;

/** RFC 3339 with a zone (`Z` or an offset); `Date.parse` alone takes too much (zone-less times are local). */
const AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

type Transition = { at: Date; active: boolean };

/** The next `count` transitions of a window after `at`. */
function transitions(window: Window, at: Date, count: number): { active: boolean; next: Transition[] } {
  const now = windowActivity(window, at);
  const next: Transition[] = [];
  let t = now.changesAt;
  let active = now.active;
  while (t !== undefined && next.length < count) {
    active = !active;
    next.push({ at: t, active });
    t = windowActivity(window, t).changesAt;
  }
  return { active: now.active, next };
}

function describeSchedule(w: Window): string {
  if (w.schedule !== undefined) return `${w.schedule} for ${formatDuration(w.duration ?? 0)}`;
  return (w.ranges ?? []).map((r) => `${r.start} to ${r.end}`).join(", ");
}

function describeMatch(w: Window): string {
  const m = w.match;
  if (m === undefined) return "everything";
  const parts: string[] = [];
  if (m.tenants !== undefined) parts.push(`tenants ${m.tenants.join(",")}`);
  if (m.namespaces !== undefined) parts.push(`namespaces ${m.namespaces.join(",")}`);
  if (m.kinds !== undefined) parts.push(`kinds ${m.kinds.join(",")}`);
  if (m.names !== undefined) parts.push(`names ${m.names.join(",")}`);
  if (m.labels !== undefined) {
    const terms = Object.entries(m.labels.matchLabels).map(([k, v]) => `${k}=${v}`);
    for (const e of m.labels.matchExpressions) terms.push(`${e.key} ${e.operator} ${e.values.join(",")}`.trim());
    parts.push(`labels ${terms.join(",")}`);
  }
  return parts.join("; ");
}

function describeTransition(w: Window, t: Transition | undefined): string {
  if (t === undefined) return "-";
  return `${t.active ? "starts" : "ends"} ${formatLocal(t.at, w.timeZone)} (${formatUtc(t.at)})`;
}

/** Columns padded to their widest cell; the last is not padded. */
function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")).join("\n");
}

async function readWindowsFile(file: string): Promise<WindowPolicy> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [{ path: "", message: `cannot read the file: ${code === "ENOENT" ? "no such file" : String(e)}` }], { cause: e });
  }
  let doc: unknown;
  try {
    doc = load(text, { filename: file });
  } catch (e) {
    throw new ConfigError(file, [{ path: "", message: `not valid YAML: ${(e as Error).message}` }], { cause: e });
  }
  const parsed = windowPolicySchema.safeParse(doc ?? {});
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    file,
    parsed.error.issues.map((i) => ({ path: formatIssuePath(i.path), message: i.message })),
  );
}

function formatIssuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

async function policyFrom(args: ParsedArgs, io: Io): Promise<WindowPolicy> {
  const windowsFile = stringFlag(args, "windows");
  if (windowsFile !== undefined) return readWindowsFile(resolve(io.cwd, windowsFile));
  const config = await loadConfig(configPath(stringFlag(args, "config"), io.env, io.cwd));
  const manifests = stringFlag(args, "manifests");
  if (manifests === undefined) return windowPolicyOfConfig(config);
  const cluster = await loadStaticCluster(resolve(io.cwd, manifests), io.cwd);
  const policy = staticPolicy(cluster, config.policy)(config.policy);
  return { windows: policy.windows, breakGlass: policy.breakGlass };
}

const outputs = z.enum(["text", "json"]);

/**
 * The `fluxgate windows` verb.
 * @example await windowsCommand.run({ values: { at: "2026-12-24T18:00:00Z", output: "json" }, positionals: [] }, io)
 */
export const windowsCommand: Command = {
  name: "windows",
  summary: "Show deployment windows: active or not at an instant, and their next starts and ends",
  help,
  options: {
    config: { type: "string", short: "c" },
    windows: { type: "string" },
    manifests: { type: "string" },
    at: { type: "string" },
    tenant: { type: "string" },
    output: { type: "string", short: "o" },
  },
  async run(args, io) {
    const output = outputs.safeParse(stringFlag(args, "output") ?? "text");
    if (!output.success) throw new UsageError(`windows: --output must be text or json, got "${stringFlag(args, "output")}"`);
    const atFlag = stringFlag(args, "at");
    if (atFlag !== undefined && (!AT.test(atFlag) || Number.isNaN(Date.parse(atFlag)))) {
      throw new UsageError(`windows: --at must be an RFC 3339 time with a zone, like 2026-12-24T18:00:00Z or 2026-12-24T19:00:00+01:00; got "${atFlag}"`);
    }
    const at = atFlag === undefined ? new Date() : new Date(Date.parse(atFlag));
    const tenant = stringFlag(args, "tenant");
    const policy = await policyFrom(args, io);
    const windows = policy.windows.filter((w) => tenant === undefined || windowConcernsTenant(w, tenant));
    const shown = windows.map((w) => ({ window: w, ...transitions(w, at, 2) }));

    if (output.data === "json") {
      const body = {
        at: formatUtc(at),
        ...(tenant === undefined ? {} : { tenant }),
        windows: shown.map(({ window: w, active, next }) => ({
          name: w.name,
          kind: w.kind,
          ...(w.description === undefined ? {} : { description: w.description }),
          timeZone: w.timeZone,
          ...(w.schedule === undefined ? {} : { schedule: w.schedule, duration: formatDuration(w.duration ?? 0) }),
          ...(w.ranges === undefined ? {} : { ranges: w.ranges }),
          match: w.match ?? {},
          manualReconcile: w.manualReconcile,
          freeze: w.freeze,
          active,
          next: next.map((t) => ({ at: formatUtc(t.at), local: formatLocal(t.at, w.timeZone), active: t.active })),
        })),
      };
      io.out(`${JSON.stringify(body, null, 2)}\n`);
      return 0;
    }
    const scope = tenant === undefined ? "" : ` for tenant ${tenant}`;
    if (shown.length === 0) {
      io.out(`No deployment windows${scope}${policy.windows.length === 0 ? " are configured" : ""}.\n`);
      return 0;
    }
    const rows = [["WINDOW", "KIND", "STATE", "ZONE", "SCHEDULE", "APPLIES TO", "NEXT", "THEN"]];
    for (const { window: w, active, next } of shown) {
      rows.push([w.name, w.kind, active ? "active" : "inactive", w.timeZone, describeSchedule(w), describeMatch(w), describeTransition(w, next[0]), describeTransition(w, next[1])]);
    }
    io.out(`Deployment windows${scope} at ${formatUtc(at)}:\n\n${table(rows)}\n`);
    return 0;
  },
};
