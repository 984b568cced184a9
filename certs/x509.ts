/**
 * `@peculiar/x509`, loaded so that it works on Node, Bun and Deno. Import the library from here, never directly:
 * it registers its algorithms through tsyringe, which throws at load time unless the Reflect metadata polyfill is
 * installed first.
 */
import type * as X509 from "@peculiar/x509";

// Dynamic imports, in order: Bun evaluates CommonJS dependencies of a module before the module's own sibling
// imports, so static imports would load tsyringe before the polyfill.
await import("reflect-metadata");

/**
 * The `@peculiar/x509` module, with WebCrypto as its provider.
 * @example const cert = new x509.X509Certificate(pem)
 */
export const x509: typeof X509 = await import("@peculiar/x509");
x509.cryptoProvider.set(globalThis.crypto);
