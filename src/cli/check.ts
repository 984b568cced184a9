/**
 * `fluxgate check PATH...`: the admission rules run offline over the Flux objects in YAML files and directories, each
 * judged as kube-apiserver would send Fluxgate a CREATE of it, so a repository can be checked in CI before Flux
 * applies it. Exit 0 when nothing is denied, 1 when something is, 2 for a bad command line or unreadable input.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, relative } from "node:path";
import { evaluate } from "../admission/evaluate.ts";
import { lineOf, manifestFiles, ManifestError, parseManifests } from "../admission/manifests.ts";
import type { ManifestDocument } from "../admission/manifests.ts";
import { describeIssue, kubeObjectSchema } from "../admission/review.ts";
import type { AdmissionInput, KubeObject, Violation } from "../admission/rule.ts";
import { configPath, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { isConfigError, UsageError } from "../errors.ts";
import { fieldPathsFor } from "../flux/field-paths.ts";
import { staticNamespaceLabels } from "../kube/namespace-labels.ts";
import type { NamespaceLabels } from "../policy/tenancy.ts";
import type { Command, Io, ParsedArgs } from "./command.ts";
import { stringFlag } from "./command.ts";

const OUTPUTS = ["text", "json", "junit"] as const;
type Output = (typeof OUTPUTS)[number];

/** The identity objects are created by, unless `--user` says otherwise; `{namespace}` is the object's namespace. */
export const DEFAULT_CHECK_USER = "system:serviceaccount:{namespace}:default";
const DEFAULT_NAMESPACE = "default";

const help = `Usage: fluxgate check PATH... [flags]

Runs the admission rules of the configuration's policy over the Flux objects in YAML files and directories
(recursively; .yaml and .yml; multi-document), judging each as a CREATE by --user, the way the validating webhook
would. Other documents (Namespaces, RBAC, kustomize's kustomization.yaml …) are skipped and counted, and so are
files a kustomization.yaml names as patches (partial objects) unless given by name. Namespace objects found are
used for tenants' namespaceSelector.

Exit status: 0 nothing denied (audit-mode findings are reported but pass), 1 at least one object denied,
2 bad command line, unreadable configuration or unreadable input (each problem with its file and line).

Flags:
  -c, --config <file>     configuration whose policy applies (env FLUXGATE_CONFIG); without one, the defaults,
                          whose empty policy judges nothing
      --user <name>       who creates the objects (default ${DEFAULT_CHECK_USER}: the namespace's
                          default service account, as kustomize-controller impersonates it under Flux's
                          multi-tenancy lockdown); {namespace} is replaced by each object's namespace
      --group <name>      a group of that user, repeatable (service accounts also get kube-apiserver's
                          system:serviceaccounts, system:serviceaccounts:<ns>; everyone system:authenticated)
      --namespace <ns>    namespace of objects that name none, as kubectl's context would (default ${DEFAULT_NAMESPACE})
      --output <format>   text (default): one line per finding, file:line Kind namespace/name: message [rule]
                          json: every object and finding, with a summary
                          junit: JUnit XML for CI (a testsuite per file, a testcase per object, a failure
                          per denial)

Examples:
  fluxgate check ./clusters ./tenants --config fluxgate.yaml
  fluxgate check tenants/ --user 'system:serviceaccount:{namespace}:{namespace}' --output junit > report.xml
  FLUXGATE_CONFIG=policy.yaml fluxgate check apps/base/podinfo/release.yaml --namespace podinfo
`;

/** One finding on an object. */
export type CheckFinding = Violation & { mode: "enforce" | "audit"; line: number };

/** What happened to one Flux object. */
export type CheckedObject = {
  file: string;
  line: number;
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  decision: "denied" | "warned" | "allowed" | "exempt";
  tenant?: string;
  exemption?: string;
  findings: CheckFinding[];
};

/** A file or document that could not be judged. */
export type CheckError = { file: string; line?: number; message: string };

export type CheckSummary = {
  files: number;
  objects: number;
  denied: number;
  warned: number;
  allowed: number;
  exempt: number;
  violations: number;
  warnings: number;
  skippedDocuments: number;
  skippedPatches: number;
  errors: number;
};

export type CheckReport = { summary: CheckSummary; objects: CheckedObject[]; errors: CheckError[] };

/**
 * The `fluxgate check` verb.
 * @example await checkCommand.run({ values: { config: "fluxgate.yaml", output: "junit" }, positionals: ["clusters"] }, io)
 */
export const checkCommand: Command = {
  name: "check",
  summary: "Run the admission rules over Flux manifests in files and directories (CI)",
  help,
  options: {
    config: { type: "string", short: "c" },
    user: { type: "string" },
    group: { type: "string", multiple: true },
    namespace: { type: "string" },
    output: { type: "string" },
  },
  positionals: true,
  run: (args, io) => runCheck(args, io),
};

type CheckFlags = { paths: string[]; user: string; groups: string[]; namespace: string; output: Output; config: string | undefined };

function parseFlags(args: ParsedArgs, io: Io): CheckFlags {
  if (args.positionals.length === 0) throw new UsageError("check: expected at least one file or directory (see 'fluxgate check --help')");
  const output = stringFlag(args, "output") ?? "text";
  if (!(OUTPUTS as readonly string[]).includes(output)) throw new UsageError(`--output: expected one of ${OUTPUTS.join(", ")}, got "${output}"`);
  const user = stringFlag(args, "user") ?? DEFAULT_CHECK_USER;
  if (user.trim() === "") throw new UsageError("--user: expected a username, got an empty string");
  const namespace = stringFlag(args, "namespace") ?? DEFAULT_NAMESPACE;
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) throw new UsageError(`--namespace: expected a Kubernetes namespace name, got "${namespace}"`);
  const g = args.values["group"];
  const groups = Array.isArray(g) ? g.filter((x): x is string => typeof x === "string") : typeof g === "string" ? [g] : [];
  if (groups.some((x) => x.trim() === "")) throw new UsageError("--group: expected a group name, got an empty string");
  return { paths: args.positionals, user, groups, namespace, output: output as Output, config: configPath(stringFlag(args, "config"), io.env, io.cwd) };
}

async function runCheck(args: ParsedArgs, io: Io): Promise<number> {
  const flags = parseFlags(args, io);
  let config: Config;
  try {
    config = await loadConfig(flags.config);
  } catch (e) {
    // Exit 1 means "violations" to CI; a configuration that cannot be read is an input problem.
    if (isConfigError(e)) {
      io.err(`fluxgate check: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const report = await check(flags.paths, config, { cwd: io.cwd, user: flags.user, groups: flags.groups, namespace: flags.namespace, now: new Date() });
  for (const e of report.errors) io.err(`fluxgate check: ${e.line === undefined ? e.file : `${e.file}:${e.line}`}: ${e.message}\n`);
  io.out(flags.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : flags.output === "junit" ? junit(report) : text(report));
  return report.errors.length > 0 ? 2 : report.summary.denied > 0 ? 1 : 0;
}

export type CheckOptions = {
  /** Paths in the report are relative to it (when inside it). */
  cwd: string;
  /** Username template; `{namespace}` is each object's namespace. */
  user: string;
  groups: string[];
  /** Namespace of objects that name none. */
  namespace: string;
  now: Date;
};

type Loaded = { file: string; docs: ManifestDocument[] };

/**
 * Judges every Flux object under `paths` with `config.policy`.
 * @example (await check(["tenants"], config, { cwd, user: DEFAULT_CHECK_USER, groups: [], namespace: "default", now: new Date() })).summary.denied
 */
export async function check(paths: string[], config: Config, options: CheckOptions): Promise<CheckReport> {
  const display = (file: string) => {
    const r = relative(options.cwd, file);
    return r === "" || r.startsWith("..") || isAbsolute(r) ? file : r;
  };
  const listed = await manifestFiles(paths, options.cwd);
  const errors: CheckError[] = listed.errors.map((e) => ({ file: display(e.file), message: e.detail }));

  const loaded: Loaded[] = [];
  for (const file of listed.files) {
    try {
      loaded.push({ file, docs: parseManifests(await readFile(file, "utf8"), display(file)) });
    } catch (e) {
      if (e instanceof ManifestError) errors.push({ file: display(file), ...(e.line === undefined ? {} : { line: e.line }), message: e.detail });
      else errors.push({ file: display(file), message: `cannot read the file: ${(e as NodeJS.ErrnoException).code === "EACCES" ? "permission denied" : String((e as Error).message ?? e)}` });
    }
  }

  // Namespaces declared alongside (a tenant's Namespace with its label) stand in for the cluster's.
  const namespaces = new Map<string, Record<string, string> | undefined>();
  for (const { docs } of loaded) {
    for (const d of docs) for (const item of items(d.value)) {
      const r = kubeObjectSchema.safeParse(item);
      if (!r.success || r.data.kind !== "Namespace" || r.data.apiVersion !== "v1" || r.data.metadata.name === undefined) continue;
      namespaces.set(r.data.metadata.name, r.data.metadata.labels);
    }
  }
  const namespaceLabels = staticNamespaceLabels(namespaces);

  const objects: CheckedObject[] = [];
  let skipped = 0;
  for (const { file, docs } of loaded) {
    for (const doc of docs) {
      for (const [item, line] of itemsWithLines(doc)) {
        if (item === null || item === undefined) continue;
        const apiVersion = typeof item === "object" && !Array.isArray(item) ? (item as Record<string, unknown>)["apiVersion"] : undefined;
        const kind = typeof item === "object" && !Array.isArray(item) ? (item as Record<string, unknown>)["kind"] : undefined;
        const group = typeof apiVersion === "string" && apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.lastIndexOf("/")) : "";
        if (typeof kind !== "string" || fieldPathsFor(group, kind) === undefined) {
          skipped++;
          continue;
        }
        const parsed = kubeObjectSchema.safeParse(item, { reportInput: true });
        if (!parsed.success) {
          errors.push({ file: display(file), line, message: `${kind}: not a Kubernetes object: ${describeIssue(parsed.error.issues)}` });
          continue;
        }
        objects.push(judge(parsed.data, display(file), doc, line, config, options, namespaceLabels.labels));
      }
    }
  }
  return { summary: summarise(objects, loaded.length, skipped, listed.patches.length, errors), objects, errors };
}

/** A document's objects: itself, or the items of a `v1` `List`. */
function items(value: unknown): unknown[] {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (v["apiVersion"] === "v1" && typeof v["kind"] === "string" && v["kind"].endsWith("List") && Array.isArray(v["items"])) return v["items"];
  }
  return [value];
}

function itemsWithLines(doc: ManifestDocument): Array<[unknown, number]> {
  const list = items(doc.value);
  if (list.length === 1 && list[0] === doc.value) return [[doc.value, doc.line]];
  return list.map((item, i) => [item, doc.lines.get(`items[${i}]`) ?? doc.line]);
}

function judge(object: KubeObject, file: string, doc: ManifestDocument, line: number, config: Config, options: CheckOptions, namespaceLabels: NamespaceLabels): CheckedObject {
  const namespace = object.metadata.namespace ?? options.namespace;
  const username = options.user.replaceAll("{namespace}", namespace);
  const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(username);
  const groups = [...new Set([...(sa === null ? [] : ["system:serviceaccounts", `system:serviceaccounts:${sa[1]}`]), "system:authenticated", ...options.groups])];
  const apiVersion = object.apiVersion;
  const slash = apiVersion.lastIndexOf("/");
  const input: AdmissionInput = {
    operation: "CREATE",
    object,
    kind: { group: slash < 0 ? "" : apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1), kind: object.kind },
    namespace,
    user: { username, groups },
    dryRun: true,
    now: options.now,
  };
  const decision = evaluate(input, config.policy, "validate", { namespaceLabels });
  // Lines inside a List item are not tracked separately; the item's line is close enough there.
  const at = (path: string) => (line === doc.line ? lineOf(doc, path) : line);
  const findings: CheckFinding[] = [
    ...decision.denials.map((v) => ({ ...v, mode: "enforce" as const, line: at(v.path) })),
    ...decision.warnings.map((v) => ({ ...v, mode: "audit" as const, line: at(v.path) })),
  ];
  const result: CheckedObject = {
    file,
    line,
    apiVersion,
    kind: object.kind,
    namespace,
    name: object.metadata.name ?? (object.metadata.generateName !== undefined ? `${object.metadata.generateName}<generated>` : "<unnamed>"),
    decision: decision.exempt !== undefined ? "exempt" : decision.denials.length > 0 ? "denied" : decision.warnings.length > 0 ? "warned" : "allowed",
    findings,
  };
  if (decision.tenant !== undefined) result.tenant = decision.tenant;
  if (decision.exempt !== undefined) result.exemption = `${decision.exempt.kind}: ${decision.exempt.reason}`;
  return result;
}

function summarise(objects: CheckedObject[], files: number, skippedDocuments: number, skippedPatches: number, errors: CheckError[]): CheckSummary {
  const n = (d: CheckedObject["decision"]) => objects.filter((o) => o.decision === d).length;
  const findings = objects.flatMap((o) => o.findings);
  return {
    files,
    objects: objects.length,
    denied: n("denied"),
    warned: n("warned"),
    allowed: n("allowed"),
    exempt: n("exempt"),
    violations: findings.filter((f) => f.mode === "enforce").length,
    warnings: findings.filter((f) => f.mode === "audit").length,
    skippedDocuments,
    skippedPatches,
    errors: errors.length,
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const objectName = (o: CheckedObject) => `${o.kind} ${o.namespace}/${o.name}`;

/** One line per finding, then a summary line. */
function text(report: CheckReport): string {
  const lines = report.objects.flatMap((o) => o.findings.map((f) => `${o.file}:${f.line}: ${objectName(o)}: ${f.message} [${f.rule}${f.mode === "audit" ? ", audit" : ""}]`));
  const s = report.summary;
  const skipped = [s.skippedDocuments > 0 ? plural(s.skippedDocuments, "other document") : "", s.skippedPatches > 0 ? plural(s.skippedPatches, "kustomize patch file") : ""].filter((x) => x !== "");
  const outcome = [
    `${s.denied} denied${s.violations > 0 ? ` (${plural(s.violations, "violation")})` : ""}`,
    `${s.warned} with warnings only`,
    `${s.allowed} allowed`,
    `${s.exempt} exempt`,
  ].join(", ");
  lines.push(`${plural(s.objects, "Flux object")} in ${plural(s.files, "file")}: ${outcome}${skipped.length > 0 ? `; skipped ${skipped.join(" and ")}` : ""}${s.errors > 0 ? `; ${plural(s.errors, "unreadable input")}` : ""}`);
  return `${lines.join("\n")}\n`;
}

/** XML text: the five entities escaped, characters XML 1.0 cannot hold dropped. */
function xml(value: string): string {
  return value
    .replace(/[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** JUnit XML as Jenkins, GitLab and GitHub test reporters read it: a testsuite per file, a testcase per object. */
function junit(report: CheckReport): string {
  const byFile = new Map<string, CheckedObject[]>();
  for (const o of report.objects) byFile.set(o.file, [...(byFile.get(o.file) ?? []), o]);
  const errorsByFile = new Map<string, CheckError[]>();
  for (const e of report.errors) errorsByFile.set(e.file, [...(errorsByFile.get(e.file) ?? []), e]);
  const suites: string[] = [];
  for (const file of new Set([...byFile.keys(), ...errorsByFile.keys()])) {
    const objects = byFile.get(file) ?? [];
    const errs = errorsByFile.get(file) ?? [];
    const cases = objects.map((o) => {
      const attrs = `classname="${xml(o.file)}" name="${xml(objectName(o))}" file="${xml(o.file)}" line="${o.line}" time="0"`;
      const body: string[] = [];
      for (const f of o.findings.filter((x) => x.mode === "enforce")) {
        body.push(`      <failure message="${xml(f.message)}" type="${xml(f.rule)}">${xml(`${o.file}:${f.line}: ${f.message} [${f.rule}]`)}</failure>`);
      }
      if (o.decision === "exempt") body.push(`      <skipped message="${xml(o.exemption ?? "exempt")}"/>`);
      const audit = o.findings.filter((x) => x.mode === "audit");
      if (audit.length > 0) body.push(`      <system-out>${xml(audit.map((f) => `${o.file}:${f.line}: warning: ${f.message} [${f.rule}, audit]`).join("\n"))}</system-out>`);
      return body.length === 0 ? `    <testcase ${attrs}/>` : `    <testcase ${attrs}>\n${body.join("\n")}\n    </testcase>`;
    });
    for (const e of errs) {
      const where = e.line === undefined ? e.file : `${e.file}:${e.line}`;
      cases.push(`    <testcase classname="${xml(file)}" name="${xml(`read ${where}`)}" file="${xml(file)}"${e.line === undefined ? "" : ` line="${e.line}"`} time="0">\n      <error message="${xml(e.message)}" type="UnreadableInput">${xml(`${where}: ${e.message}`)}</error>\n    </testcase>`);
    }
    const failures = objects.filter((o) => o.decision === "denied").length;
    const skipped = objects.filter((o) => o.decision === "exempt").length;
    suites.push(`  <testsuite name="${xml(file)}" tests="${cases.length}" failures="${failures}" errors="${errs.length}" skipped="${skipped}" time="0">\n${cases.join("\n")}\n  </testsuite>`);
  }
  const s = report.summary;
  const total = s.objects + s.errors;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="fluxgate check" tests="${total}" failures="${s.denied}" errors="${s.errors}" skipped="${s.exempt}" time="0">\n${suites.join("\n")}${suites.length > 0 ? "\n" : ""}</testsuites>\n`;
}
