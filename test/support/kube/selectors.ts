/**
 * Label and field selectors as kube-apiserver parses them (apimachinery `labels/selector.go`, `fields/selector.go`):
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, `k>1`, `k<1`, comma = AND. A parse error is a
 * `SelectorError` (the REST layer answers 400).
 */
import type { KubeObject } from "./admission-types.ts";

/** A selector that could not be parsed or names a field the resource does not support. */
export class SelectorError extends Error {
  override name = "SelectorError";
}

type LabelRequirement =
  | { key: string; op: "exists" | "!exists" }
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: ">" | "<"; value: number };

/** A parsed label selector; `matches` takes the object's labels. */
export type LabelSelector = { requirements: LabelRequirement[]; matches(labels: Record<string, string> | undefined): boolean };

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkKey(key: string): void {
  const slash = key.indexOf("/");
  const name = slash === -1 ? key : key.slice(slash + 1);
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const okName = name.length > 0 && name.length <= 63 && NAME_PART.test(name);
  const okPrefix = prefix === undefined || (prefix.length > 0 && prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix));
  if (!okName || !okPrefix) throw new SelectorError(`unable to parse requirement: key: Invalid value: ${JSON.stringify(key)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
}

function checkValue(key: string, value: string, i: number): void {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw new SelectorError(
      `unable to parse requirement: values[${i}][${key}]: Invalid value: ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
}

type Token = { t: "id" | "!" | "=" | "==" | "!=" | "(" | ")" | "," | ">" | "<" | "in" | "notin" | "end"; v: string };

function lex(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const special = " \t\n!=(),<>";
  while (i < s.length) {
    const c = s[i]!;
    if (c === " " || c === "\t" || c === "\n") {
      i++;
      continue;
    }
    if (c === "!" && s[i + 1] === "=") {
      out.push({ t: "!=", v: "!=" });
      i += 2;
    } else if (c === "=" && s[i + 1] === "=") {
      out.push({ t: "==", v: "==" });
      i += 2;
    } else if (c === "!" || c === "=" || c === "(" || c === ")" || c === "," || c === ">" || c === "<") {
      out.push({ t: c, v: c });
      i++;
    } else {
      let j = i;
      while (j < s.length && !special.includes(s[j]!)) j++;
      const word = s.slice(i, j);
      out.push(word === "in" ? { t: "in", v: word } : word === "notin" ? { t: "notin", v: word } : { t: "id", v: word });
      i = j;
    }
  }
  out.push({ t: "end", v: "" });
  return out;
}

/** Parses a `labelSelector` query value; the empty string selects everything. */
export function parseLabelSelector(s: string): LabelSelector {
  const toks = lex(s);
  let p = 0;
  const peek = (): Token => toks[p]!;
  const next = (): Token => toks[p++]!;
  const reqs: LabelRequirement[] = [];
  const fail = (tok: Token, expected: string): never => {
    throw new SelectorError(`unable to parse requirement: found '${tok.v}', expected: ${expected}`);
  };
  if (peek().t !== "end") {
    for (;;) {
      let tok = next();
      if (tok.t === "!") {
        const k = next();
        if (k.t !== "id") fail(k, "identifier");
        checkKey(k.v);
        reqs.push({ key: k.v, op: "!exists" });
      } else {
        if (tok.t !== "id") fail(tok, "identifier");
        const key = tok.v;
        checkKey(key);
        const op = peek();
        if (op.t === "," || op.t === "end") {
          reqs.push({ key, op: "exists" });
        } else {
          next();
          if (op.t === "=" || op.t === "==" || op.t === "!=") {
            const v = peek().t === "id" ? next().v : "";
            checkValue(key, v, 0);
            reqs.push({ key, op: op.t === "!=" ? "!=" : "=", value: v });
          } else if (op.t === "in" || op.t === "notin") {
            tok = next();
            if (tok.t !== "(") fail(tok, "'('");
            const values: string[] = [];
            for (;;) {
              const v = peek().t === "id" ? next().v : "";
              checkValue(key, v, values.length);
              values.push(v);
              tok = next();
              if (tok.t === ")") break;
              if (tok.t !== ",") fail(tok, "',', ')'");
            }
            reqs.push({ key, op: op.t, values });
          } else if (op.t === ">" || op.t === "<") {
            const v = next();
            if (v.t !== "id" || !/^-?\d+$/.test(v.v)) throw new SelectorError(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
            reqs.push({ key, op: op.t, value: Number(v.v) });
          } else {
            fail(op, "in, notin, =, ==, !=, gt, lt");
          }
        }
      }
      tok = next();
      if (tok.t === "end") break;
      if (tok.t !== ",") fail(tok, "','");
    }
  }
  return {
    requirements: reqs,
    matches(labels) {
      const l = labels ?? {};
      return reqs.every((r) => {
        const has = Object.hasOwn(l, r.key);
        const v = l[r.key];
        switch (r.op) {
          case "exists":
            return has;
          case "!exists":
            return !has;
          case "=":
            return has && v === r.value;
          case "!=":
            return !has || v !== r.value;
          case "in":
            return has && r.values.includes(v!);
          case "notin":
            return !has || !r.values.includes(v!);
          case ">":
          case "<": {
            if (!has || !/^-?\d+$/.test(v!)) return false;
            return r.op === ">" ? Number(v) > r.value : Number(v) < r.value;
          }
        }
      });
    },
  };
}

type FieldRequirement = { field: string; op: "=" | "!="; value: string };

/** A parsed field selector; `matches` reads the fields from the object. */
export type FieldSelector = { requirements: FieldRequirement[]; matches(obj: KubeObject): boolean };

function unescapeField(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/**
 * Parses a `fieldSelector`. `metadata.name` and `metadata.namespace` always work; `extra` maps further supported
 * labels to the path they read (a Secret's `type`, a CRD's `selectableFields`). Anything else →
 * `field label not supported: <label>`.
 */
export function parseFieldSelector(s: string, extra: Record<string, string[]> = {}): FieldSelector {
  const reqs: FieldRequirement[] = [];
  if (s.trim() !== "") {
    for (const part of splitUnescaped(s, ",")) {
      const m = /^(.*?)(==|!=|=)(.*)$/s.exec(part);
      if (m === null) throw new SelectorError(`invalid selector: '${s}'; can't understand '${part}'`);
      const field = m[1]!.trim();
      const op = m[2] === "!=" ? "!=" : "=";
      reqs.push({ field, op, value: unescapeField(m[3]!) });
    }
  }
  const paths: Record<string, string[]> = { "metadata.name": ["metadata", "name"], "metadata.namespace": ["metadata", "namespace"], ...extra };
  for (const r of reqs) if (!Object.hasOwn(paths, r.field)) throw new SelectorError(`field label not supported: ${r.field}`);
  return {
    requirements: reqs,
    matches(obj) {
      return reqs.every((r) => {
        let cur: unknown = obj;
        for (const seg of paths[r.field]!) cur = cur !== null && typeof cur === "object" ? (cur as KubeObject)[seg] : undefined;
        const v = cur === undefined || cur === null ? "" : String(cur);
        return r.op === "=" ? v === r.value : v !== r.value;
      });
    },
  };
}
