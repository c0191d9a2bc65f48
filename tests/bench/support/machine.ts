import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
export const RESULTS_DIR = fileURLToPath(new URL("../../../bench-results/", import.meta.url));

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  arch: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cores: os.availableParallelism?.() ?? cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    arch: process.arch,
  };
}

/** One row of the stdout table (and of README's Performance table). */
export interface TableRow {
  benchmark: string;
  metric: string;
  candor: string;
  /** The peer measured in the same run, when there is one. */
  peer?: string;
  /** The published figure it is set against (anchors.md). */
  anchor?: string;
}

export interface BenchResult {
  name: string;
  settings: Record<string, unknown>;
  figures: Record<string, unknown>;
  notes: string[];
  rows: TableRow[];
}

/** 1-minute load average: other work on the machine shows in every figure, so it is recorded with them. */
export const load1 = (): number => Math.round((os.loadavg()[0] ?? 0) * 100) / 100;

export function writeResult(
  result: BenchResult,
  startedAt: Date,
  durationMs: number,
  loadAverage: { atStart: number; atEnd: number },
): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${result.name}.json`;
  const body = {
    name: result.name,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(durationMs),
    command: "npm run bench",
    machine: machine(),
    loadAverage1m: loadAverage,
    settings: result.settings,
    figures: result.figures,
    notes: result.notes,
    table: result.rows,
  };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return file;
}

export function writeText(name: string, text: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}`;
  writeFileSync(file, text);
  return file;
}
