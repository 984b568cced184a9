/**
 * Memoisation for pure functions of strings that sit on hot paths (glob compilation, semver range comparison):
 * policies are parsed once but judged on every request. The cache is emptied when it reaches `max` entries, so
 * values coming from requests cannot grow it without bound.
 * @example const compile = memo((p: string) => picomatch(p, { dot: true })); compile("apps-*")("apps-web")
 */
export function memo<V>(fn: (key: string) => V, max = 2000): (key: string) => V {
  const cache = new Map<string, V>();
  return (key) => {
    let v = cache.get(key);
    if (v === undefined && !cache.has(key)) {
      v = fn(key);
      if (cache.size >= max) cache.clear();
      cache.set(key, v);
    }
    return v as V;
  };
}
