/**
 * Where each key path of a YAML document starts, so a config error can say `fluxgate.yaml:12` and not only
 * `listen.admission`. Built from js-yaml's event stream, which carries source offsets; js-yaml's `load` does not.
 */
import { parseEvents, getScalarValue } from "js-yaml";
import type { Event } from "js-yaml";

const DOCUMENT = 1;
const SEQUENCE = 2;
const MAPPING = 3;
const SCALAR = 4;
const ALIAS = 5;
const POP = 6;

type Frame = { kind: "map"; path: string; key: string | undefined } | { kind: "seq"; path: string; index: number };

/**
 * A function from a character offset of `text` to its 1-based line (binary search over line starts).
 * @example lineIndex("a\nb")(2) // 2
 */
export function lineIndex(text: string): (offset: number) => number {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

/** Joins a path the way config errors print it: `a.b[2].c`. */
export function formatPath(segments: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else out += out === "" ? String(s) : `.${String(s)}`;
  }
  return out;
}

/** One document of a YAML stream: where its content starts and the line of every key path in it. */
export type DocumentLines = {
  /** 1-based line of the document's root node (1 for an empty document). */
  line: number;
  /** Line of every key path (`spec.sourceRef.namespace`, `spec.dependsOn[1]`): the key's line for mapping values,
   * the item's line for sequence items. */
  lines: Map<string, number>;
};

/**
 * The lines of every document in js-yaml's event stream of `source` (events carry source offsets; `load` does not).
 * @example documentLines(parseEvents(text, {}), text)[1]?.lines.get("spec.url")
 */
export function documentLines(events: readonly Event[], source: string): DocumentLines[] {
  const lineOf = lineIndex(source);
  const docs: DocumentLines[] = [];
  let doc: DocumentLines | undefined;
  const stack: Frame[] = [];
  // Called for each node: returns the node's own path and records its line; undefined for a mapping key (it names
  // the next value). Complex keys are not manifest- or config-shaped: they name nothing.
  const enter = (offset: number, scalarKey?: string): string | undefined => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      if (doc !== undefined && offset >= 0) doc.line = lineOf(offset);
      return "";
    }
    if (top.kind === "seq") {
      const path = `${top.path}[${top.index}]`;
      top.index++;
      if (offset >= 0 && doc !== undefined && !doc.lines.has(path)) doc.lines.set(path, lineOf(offset));
      return path;
    }
    if (top.key === undefined) {
      top.key = scalarKey ?? "";
      const path = top.path === "" ? top.key : `${top.path}.${top.key}`;
      if (offset >= 0 && doc !== undefined && !doc.lines.has(path)) doc.lines.set(path, lineOf(offset));
      return undefined;
    }
    const path = top.path === "" ? top.key : `${top.path}.${top.key}`;
    top.key = undefined;
    return path;
  };
  for (const ev of events) {
    switch (ev.type) {
      case DOCUMENT:
        doc = { line: 1, lines: new Map() };
        docs.push(doc);
        stack.length = 0;
        break;
      case MAPPING:
      case SEQUENCE: {
        const path = enter(ev.start) ?? "";
        stack.push(ev.type === MAPPING ? { kind: "map", path, key: undefined } : { kind: "seq", path, index: 0 });
        break;
      }
      case SCALAR:
        enter(ev.valueStart, ev.valueStart >= 0 ? getScalarValue(source, ev) : "");
        break;
      case ALIAS:
        enter(ev.anchorStart);
        break;
      case POP:
        stack.pop();
        break;
    }
  }
  return docs;
}

/**
 * Maps every key path of the first document to its 1-based line (the key's line for mapping values, the item's
 * line for sequence items). Returns an empty map for text js-yaml cannot parse; the loader reports that error.
 * @example yamlLines("a:\n  b: 1\n").get("a.b") // 2
 */
export function yamlLines(source: string): Map<string, number> {
  let events: Event[];
  try {
    events = parseEvents(source, {});
  } catch {
    return new Map();
  }
  return documentLines(events, source)[0]?.lines ?? new Map();
}
