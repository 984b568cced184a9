/** `fluxgate version`: what is running, as text or JSON. */
import { UsageError } from "../errors.ts";
import { REVISION, VERSION, runtime } from "../version.ts";
import type { Command } from "./command.ts";
import { stringFlag } from "./command.ts";

export const versionCommand: Command = {
  name: "version",
  summary: "Print the version, revision and runtime",
  help: `Usage: fluxgate version [--output text|json]

Prints Fluxgate's version, the revision it was built from and the JavaScript runtime running it.

Flags:
  -o, --output text|json   output format (default text)
  -h, --help               this help
`,
  options: { output: { type: "string", short: "o" } },
  async run(args, io) {
    const output = stringFlag(args, "output") ?? "text";
    const rt = runtime();
    const info = { version: VERSION, revision: REVISION, runtime: rt.name, runtimeVersion: rt.version };
    if (output === "json") io.out(`${JSON.stringify(info)}\n`);
    else if (output === "text") io.out(`fluxgate ${VERSION} (revision ${REVISION}, ${rt.name} ${rt.version})\n`);
    else throw new UsageError(`version: --output must be text or json, got "${output}"`);
    return 0;
  },
};
