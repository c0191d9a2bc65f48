import type { Child } from "./children";
import type { BenchStack } from "./stack";

/** What run.ts hands every benchmark: the shared environment, started on first use. */
export interface BenchContext {
  stack(): Promise<BenchStack>;
  portkey(): Promise<Child & { url: string }>;
  /** `BENCH_QUICK=1`: every request count divided by 10, for a smoke run of the harness itself. */
  quick: boolean;
  /** A request count, scaled down in quick mode. */
  n(count: number): number;
  log(line: string): void;
}

export const fmt = (ms: number, digits = 2): string =>
  Number.isFinite(ms) ? `${ms.toFixed(digits)} ms` : "n/a";

/** A figure for the tables: 2 decimals under 10, 1 under 1000, none above (the noise is larger). */
export const v = (n: number | undefined): string =>
  n === undefined || !Number.isFinite(n)
    ? "n/a"
    : Math.abs(n) < 10
      ? n.toFixed(2)
      : Math.abs(n) < 1000
        ? n.toFixed(1)
        : n.toFixed(0);
