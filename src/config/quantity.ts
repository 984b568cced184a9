/**
 * Byte sizes as Kubernetes quantities (`3Mi`, `512Ki`, `1G`, `1048576`), the form operators already use for
 * limits; `KiB`/`MiB` are accepted too since people write them.
 */
const FACTORS: Record<string, number> = {
  "": 1,
  k: 1e3, K: 1e3, M: 1e6, G: 1e9,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3,
  KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3,
};

/**
 * Bytes in a quantity, or undefined when it is not one.
 * @example parseQuantity("3Mi") // 3145728
 */
export function parseQuantity(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([a-zA-Z]*)$/.exec(text.trim());
  if (m === null) return undefined;
  const factor = FACTORS[m[2] ?? ""];
  if (factor === undefined) return undefined;
  return Math.round(Number(m[1]) * factor);
}
