/**
 * Patch bodies for annotations, the writes Fluxgate makes most: a JSON merge patch (RFC 7386), or JSON Patch
 * (RFC 6902) operations whose paths escape `~` and `/` in keys (RFC 6901), since most annotation keys hold a `/`:
 * `reconcile.fluxcd.io/requestedAt` is `/metadata/annotations/reconcile.fluxcd.io~1requestedAt`.
 */
import type { KubeObject } from "./object.ts";

/** One RFC 6902 operation. */
export type JsonPatchOp =
  | { op: "add" | "replace" | "test"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; from: string; path: string };

/** A JSON merge patch body: a partial object where `null` deletes a key. */
export type MergePatch = { [key: string]: unknown };

/**
 * One reference token of a JSON Pointer: `~` → `~0`, then `/` → `~1` (in that order, RFC 6901 §3).
 * @example escapePointerToken("reconcile.fluxcd.io/requestedAt") // "reconcile.fluxcd.io~1requestedAt"
 */
export function escapePointerToken(token: string): string {
  return token.replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * A JSON Pointer from unescaped tokens.
 * @example jsonPointer("metadata", "annotations", "a/b~c") // "/metadata/annotations/a~1b~0c"
 */
export function jsonPointer(...tokens: string[]): string {
  return tokens.map((t) => `/${escapePointerToken(t)}`).join("");
}

/**
 * A merge patch that sets annotations (a `null` value removes one) and touches nothing else.
 * @example annotationsMergePatch({ "reconcile.fluxcd.io/requestedAt": "2026-11-25T07:51:11Z" })
 * // { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "2026-11-25T07:51:11Z" } } }
 */
export function annotationsMergePatch(annotations: Record<string, string | null>): MergePatch {
  return { metadata: { annotations: { ...annotations } } };
}

/**
 * JSON Patch operations that set (or, for `null`, remove) annotations on `current`. JSON Patch cannot add a key
 * under a missing map, so when the object has no annotations the map is added whole; removing an absent key is
 * skipped, since `remove` of a missing path fails the whole patch (422).
 */
export function annotationsJsonPatch(current: KubeObject, annotations: Record<string, string | null>): JsonPatchOp[] {
  const existing = current.metadata.annotations;
  const sets = Object.entries(annotations).filter((e): e is [string, string] => e[1] !== null);
  if (existing === undefined) {
    return sets.length === 0 ? [] : [{ op: "add", path: "/metadata/annotations", value: Object.fromEntries(sets) }];
  }
  const ops: JsonPatchOp[] = [];
  for (const [key, value] of Object.entries(annotations)) {
    const path = jsonPointer("metadata", "annotations", key);
    if (value !== null) ops.push({ op: "add", path, value });
    else if (key in existing) ops.push({ op: "remove", path });
  }
  return ops;
}
