/**
 * What every benchmark's command line and shutdown share: integer options, the --help / bad
 * option exits, and cleanups that also run on failure and on Ctrl-C.
 */

/** `--name` as a whole number ≥ `min`, or `fallback` when it was not given. */
export function intOption(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min} (got ${JSON.stringify(raw)})`);
  return n;
}

/**
 * The parsed options, or the exit code when there is nothing to run: 0 after printing `usage`
 * for --help (`parse` returns null), 2 after naming a bad option.
 */
export function parseCommandLine<T>(parse: (argv: string[]) => T | null, usage: string): T | number {
  let options: T | null;
  try {
    options = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (options === null) {
    console.log(usage);
    return 0;
  }
  return options;
}

/**
 * A list of cleanups run last-in first-out by `cleanup()` — once, whoever calls it — and on
 * SIGINT/SIGTERM after printing `signalMessage` (then the process exits 130).
 */
export function cleanupOnExit(signalMessage: string) {
  const cleanups: Array<{ name: string; fn: () => Promise<unknown> | unknown }> = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleaning ??= (async () => {
      for (const { name, fn } of cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          console.error(`cleanup: ${name} failed: ${(err as Error).message}`);
        }
      }
    })();
    return cleaning;
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: ${signalMessage}`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  return { cleanups, cleanup };
}
