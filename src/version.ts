/** What is running: Fluxgate's version (from package.json), the revision it was built from, and the runtime. */
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
/** Set by the container build (`FLUXGATE_REVISION=$(git rev-parse HEAD)`); "unknown" in a checkout. */
export const REVISION: string = process.env.FLUXGATE_REVISION ?? "unknown";

export type RuntimeName = "bun" | "deno" | "node";

/** The JavaScript runtime this process runs on, and its version. */
export function runtime(): { name: RuntimeName; version: string } {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun !== undefined) return { name: "bun", version: g.Bun.version };
  if (g.Deno !== undefined) return { name: "deno", version: g.Deno.version.deno };
  return { name: "node", version: process.versions.node };
}
