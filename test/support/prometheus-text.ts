/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), so a test can prove `/metrics` parses
 * the way Prometheus parses it: `# HELP`/`# TYPE` lines, samples `name{label="value",…} value [timestamp]`, label
 * values escaped, metric names and types valid, every sample belonging to a declared family.
 */
export type Sample = { name: string; labels: Record<string, string>; value: number };
export type Family = { name: string; type: string; help: string; samples: Sample[] };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const SUFFIXES = ["_bucket", "_sum", "_count", "_total", "_created", "_info"];

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad sample value "${text}"`);
  return Number(text);
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"\s*(,|$)/y;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) throw new Error(`bad labels "{${text}}"`);
    labels[m[1] ?? ""] = (m[2] ?? "").replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));
    at = re.lastIndex;
  }
  return labels;
}

/** Parses the whole body or throws naming the first bad line. */
export function parsePrometheusText(body: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const lines = body.split("\n");
  if (lines[lines.length - 1] !== "") throw new Error("the body must end with a newline");
  lines.forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1}: ${why}: ${line}`);
    };
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) return; // other comments are allowed
      const [, kind, name = "", rest = ""] = m;
      if (!NAME.test(name)) fail("bad metric name");
      const f = families.get(name) ?? { name, type: "untyped", help: "", samples: [] };
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) fail("bad type");
        if (f.samples.length > 0) fail("TYPE after samples");
        f.type = rest;
      } else f.help = rest;
      families.set(name, f);
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (m === null) return fail("not a sample");
    const [, name = "", labelText = "", valueText = ""] = m;
    let labels: Record<string, string> = {};
    let value = 0;
    try {
      labels = parseLabels(labelText);
      value = parseValue(valueText);
    } catch (e) {
      fail((e as Error).message);
    }
    const family = families.get(name) ?? families.get(SUFFIXES.reduce((n, s) => (n.endsWith(s) && families.has(n.slice(0, -s.length)) ? n.slice(0, -s.length) : n), name));
    if (family === undefined) fail("sample of an undeclared metric");
    family?.samples.push({ name, labels, value });
  });
  return families;
}
