/**
 * Globs of policies (namespaces, names, chart names, source locations), compiled once per pattern: picomatch's
 * compilation costs far more than a match, and the same few patterns are matched on every request.
 */
import picomatch from "picomatch";
import { memo } from "../memo.ts";

/**
 * The matcher of a glob (`dot: true`: `*` also matches names starting with a dot).
 * @example globMatcher("apps-*")("apps-web") // true
 */
export const globMatcher: (pattern: string) => (value: string) => boolean = memo((pattern) => picomatch(pattern, { dot: true }));
