/**
 * `npm run bench`: the benchmarks of issue 8, one after the other, each writing
 * bench-results/<name>.json (machine, settings, figures), then one table on stdout and
 * bench-results/summary.md (the README's Performance table). Benchmarks print numbers; they do
 * not assert speed.
 *
 *   npm run bench                          all five
 *   npm run bench -- turn-overhead sse-fanout   some of them
 *   BENCH_QUICK=1 npm run bench            request counts ÷ 10 (a smoke run of the harness)
 *   npm run bench -- --update-readme       also puts the table into README.md's Performance section
 *                                          (between its bench:table markers; nothing else is touched)
 *   BENCH_CHILD_LOGS=dir, BENCH_API_NODE_ARGS="--cpu-prof …"   child stdout to files, profiling
 *
 * Needs the real Postgres and Redis of the test suite (TEST_POSTGRES_ADMIN_URL, TEST_REDIS_URL,
 * defaults 127.0.0.1:5432 and :6379). Creates a scratch database candor_bench_<run> and a Redis key
 * prefix candor-bench:<run>:, and removes both at the end.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { coldStart } from "./cold-start";
import { completionsVsPeer } from "./completions-vs-peer";
import { redisOutage } from "./redis-outage";
import { sseFanout } from "./sse-fanout";
import { type Child, startPortkey } from "./support/children";
import type { BenchContext } from "./support/context";
import {
  type BenchResult,
  load1,
  machine,
  ROOT,
  type TableRow,
  writeResult,
  writeText,
} from "./support/machine";
import { type BenchStack, startBenchStack } from "./support/stack";
import { turnOverhead } from "./turn-overhead";

const BENCHMARKS: Record<string, (ctx: BenchContext) => Promise<BenchResult>> = {
  "cold-start": coldStart,
  "turn-overhead": turnOverhead,
  "completions-vs-peer": completionsVsPeer,
  "redis-outage": redisOutage,
  "sse-fanout": sseFanout,
};

const README_START = "<!-- bench:table:start -->";
const README_END = "<!-- bench:table:end -->";

const requested = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const unknown = requested.filter((n) => !(n in BENCHMARKS));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${Object.keys(BENCHMARKS).join(", ")}`);
  process.exit(2);
}
const names = requested.length ? requested : Object.keys(BENCHMARKS);
const quick = process.env.BENCH_QUICK === "1";
const started = performance.now();
const log = (line: string) =>
  console.log(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`);

let stack: Promise<BenchStack> | undefined;
let portkey: Promise<Child & { url: string }> | undefined;
const ctx: BenchContext = {
  stack: () => {
    stack ??= startBenchStack();
    return stack;
  },
  portkey: () => {
    portkey ??= startPortkey();
    return portkey;
  },
  quick,
  n: (count) => (quick ? Math.max(20, Math.round(count / 10)) : count),
  log,
};

let cleaning: Promise<void> | undefined;
const cleanup = () => {
  cleaning ??= (async () => {
    await (await portkey?.catch(() => undefined))?.stop();
    await (await stack?.catch(() => undefined))?.close();
  })();
  return cleaning;
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up (scratch database, Redis keys, child processes)`);
    void cleanup().finally(() => process.exit(130));
  });
}

const m = machine();
log(
  `machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}${quick ? "; QUICK mode" : ""}`,
);
const rows: TableRow[] = [];
const loads: number[] = [];
let failures = 0;
try {
  for (const name of names) {
    const run = BENCHMARKS[name] as (c: BenchContext) => Promise<BenchResult>;
    const at = new Date();
    const t0 = performance.now();
    const loadAtStart = load1();
    log(`${name}: start (load average ${loadAtStart} on ${m.cores} cores)`);
    let result: BenchResult;
    try {
      result = await run(ctx);
    } catch (error) {
      failures++;
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`${name}: FAILED: ${message}`);
      result = {
        name,
        settings: {},
        figures: { error: message },
        notes: ["The benchmark did not complete; see figures.error."],
        rows: [{ benchmark: name, metric: "error", candor: message.split("\n")[0] ?? "failed" }],
      };
    }
    if (quick) result.notes.unshift("QUICK mode (BENCH_QUICK=1): request counts ÷ 10; not figures to quote.");
    const loadAverage = { atStart: loadAtStart, atEnd: load1() };
    loads.push(loadAverage.atStart, loadAverage.atEnd);
    const file = writeResult(result, at, performance.now() - t0, loadAverage);
    rows.push(...result.rows);
    log(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${file}`);
  }
} finally {
  await cleanup();
}

const total = (performance.now() - started) / 1000;
console.log(`\n${table(rows)}\n`);
const summary = [
  `Measured on ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${new Date().toISOString().slice(0, 10)}; `,
  `\`npm run bench\` took ${total.toFixed(0)} s; 1-minute load average ${Math.min(...loads)}–${Math.max(...loads)} during the run.`,
  `${quick ? " QUICK mode: not figures to quote." : ""}\n\n`,
  markdown(rows),
].join("");
log(`summary → ${writeText("summary.md", summary)}`);
if (process.argv.includes("--update-readme")) {
  if (quick || failures || requested.length) log("README not updated: only a complete, full run goes there");
  else log(updateReadme(summary));
}
log(`total ${total.toFixed(0)} s${failures ? `, ${failures} benchmark(s) failed` : ""}`);
process.exit(failures ? 1 : 0);

/** Replaces what is between the markers of README's Performance section, and nothing else. */
function updateReadme(text: string): string {
  const file = join(ROOT, "README.md");
  const readme = readFileSync(file, "utf8");
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) return `README not updated: no ${README_START} … ${README_END} markers`;
  writeFileSync(file, `${readme.slice(0, start + README_START.length)}\n${text}${readme.slice(end)}`);
  return "README.md Performance table updated";
}

function table(rs: readonly TableRow[]): string {
  const head = ["benchmark", "metric", "Candor", "peer (same run)", "anchor (anchors.md)"];
  const cells = rs.map((r) => [r.benchmark, r.metric, r.candor, r.peer ?? "", r.anchor ?? ""]);
  const widths = head.map((h, i) =>
    Math.min(70, Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length))),
  );
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i] ?? 0)).join(" | ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("-|-"), ...cells.map(line)].join("\n");
}

function markdown(rs: readonly TableRow[]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  const lines = [
    "| benchmark | metric | Candor | peer, same run | anchor (shared/reference/anchors.md) |",
    "|---|---|---|---|---|",
    ...rs.map(
      (r) =>
        `| ${esc(r.benchmark)} | ${esc(r.metric)} | ${esc(r.candor)} | ${esc(r.peer ?? "")} | ${esc(r.anchor ?? "")} |`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}
