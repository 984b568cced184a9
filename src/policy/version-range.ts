/**
 * Version constraints as Flux writes them (Helm's Masterminds syntax: `>= 1.2, < 3`, `6.x`, `~1.2`, `v2.9.4`) read
 * with the `semver` package, so a tenant's allowed range and an object's constraint can be compared.
 */
import semver from "semver";
import { memo } from "../memo.ts";

/**
 * Prereleases count: Helm matches them when the constraint names one (`>=1.8.0-rc.0`), and a policy must not miss
 * them.
 */
const OPTIONS = { includePrerelease: true } as const;

/**
 * The `semver` form of a Flux/Helm version constraint, or undefined when it is not one. Commas (Masterminds' AND) become
 * spaces; an empty constraint is not a range (Flux substitutes `*`, the caller decides).
 * @example versionRange(">= 1.2, < 3.0.0") // ">=1.2.0-0 <3.0.0"
 */
export const versionRange: (constraint: string) => string | undefined = memo((constraint) => {
  const text = constraint.trim().replace(/\s*,\s*/g, " ");
  if (text === "") return undefined;
  return semver.validRange(text, OPTIONS) ?? undefined;
});

/**
 * Whether every version `constraint` can select lies inside `allowed` (both Flux/Helm constraints); false when either
 * does not parse.
 * @example withinRange("6.5.x", "6.x") // true
 * @example withinRange(">=1.0.0", "6.x") // false: 7.0.0 would do
 */
export function withinRange(constraint: string, allowed: string): boolean {
  return subsetOf(allowed)(constraint);
}

/** Per allowed range (a tenant's: few), the answers for the constraints objects write. */
const subsetOf = memo((allowed: string) => {
  const dom = versionRange(allowed);
  return memo((constraint: string): boolean => {
    const sub = versionRange(constraint);
    if (sub === undefined || dom === undefined) return false;
    return semver.subset(sub, dom, OPTIONS);
  });
});
