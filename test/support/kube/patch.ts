/**
 * JSON merge patch (RFC 7386) and JSON Patch (RFC 6902, via fast-json-patch) applied to a JSON document the way
 * kube-apiserver's patch handler uses them.
 */
import fastJsonPatch from "fast-json-patch";

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** RFC 7386: objects merge recursively, `null` deletes a key, anything else (lists included) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Strategic merge patch reduced to a merge patch, for built-in kinds only: directive keys (`$patch`,
 * `$setElementOrder/…`, `$retainKeys`, `$deleteFromPrimitiveList/…`) are dropped and lists are replaced whole
 * rather than merged by their patch merge key.
 */
export function strategicAsMergePatch(patch: unknown): unknown {
  if (Array.isArray(patch)) return patch.map(strategicAsMergePatch);
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) if (!k.startsWith("$")) out[k] = strategicAsMergePatch(v);
  return out;
}

/** Why a JSON Patch body is malformed (400), or undefined. */
export function jsonPatchShapeProblem(patch: unknown): string | undefined {
  if (!Array.isArray(patch)) return "json: cannot unmarshal object into Go value of type jsonpatch.Patch";
  for (const op of patch) {
    if (!isObject(op) || typeof op.op !== "string") return "Unexpected kind: missing op";
    if (!["add", "remove", "replace", "move", "copy", "test"].includes(op.op)) return `Unexpected kind: ${op.op}`;
    if (typeof op.path !== "string") return `${op.op} operation is missing path`;
  }
  return undefined;
}

/** Applies RFC 6902 operations; returns undefined when an operation fails (a `test` that does not hold, a missing path …). */
export function applyJsonPatch(doc: unknown, ops: unknown[]): unknown {
  try {
    const result = fastJsonPatch.applyPatch(structuredClone(doc), ops as fastJsonPatch.Operation[], true, true);
    return result.newDocument;
  } catch {
    return undefined;
  }
}
