/** Spawns the processes a benchmark talks to and stops them again (by their own pid only). */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { join } from "node:path";
import type { ApiState } from "./api-child";
import { connectIpc, type IpcClient } from "./ipc";
import { ROOT } from "./machine";
import type { ServicesReady } from "./services-child";
import { sleep } from "./stats";

export interface Child {
  pid: number;
  stderr(): string;
  stop(): Promise<void>;
}

/** Only what a child needs from this environment; the rest comes from `env`. */
const baseEnv = (): Record<string, string> => {
  const env: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "TMPDIR", "LANG"]) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return env;
};

let spawned = 0;

/**
 * stdout carries what the code under test writes (EMF metric lines, logs): discarded, unless
 * `BENCH_CHILD_LOGS=<dir>` asks for one file per child there (to see why a request failed).
 */
function stdoutOf(args: string[]): "ignore" | number {
  const dir = process.env.BENCH_CHILD_LOGS;
  if (!dir) return "ignore";
  mkdirSync(dir, { recursive: true });
  const name = (args.find((a) => a.endsWith(".ts") || a.endsWith(".js")) ?? "node").replace(/\W+/g, "_");
  return openSync(join(dir, `${++spawned}-${name}.log`), "a");
}

function spawnNode(
  args: string[],
  env: Record<string, string>,
  ipc: boolean,
): Child & { process: ChildProcess } {
  const out = stdoutOf(args);
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...baseEnv(), ...env },
    stdio: ipc ? ["ignore", out, "pipe", "ipc"] : ["ignore", out, "pipe"],
  });
  if (typeof out === "number") closeSync(out);
  let tail = "";
  child.stderr?.on("data", (c: Buffer) => {
    tail = (tail + c.toString("utf8")).slice(-4_000);
  });
  return {
    process: child,
    pid: child.pid as number,
    stderr: () => tail,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const hard = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", () => {
          clearTimeout(hard);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

export async function startServices(env: {
  BENCH_DATABASE_URL: string;
  BENCH_REDIS_URL: string;
}): Promise<Child & { ready: ServicesReady; ipc: IpcClient }> {
  const child = spawnNode(["--import", "tsx", "tests/bench/support/services-child.ts"], env, true);
  const { ready, ipc } = await connectIpc<ServicesReady>(child.process, "services", 60_000, child.stderr);
  return { ...child, ready, ipc };
}

export interface ApiChild extends Child {
  url: string;
  ipc: IpcClient;
  state(): Promise<ApiState>;
  settledMemory(): Promise<NodeJS.MemoryUsage>;
}

/**
 * `BENCH_API_NODE_ARGS` adds Node flags to the API children, e.g.
 * `BENCH_API_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench-results/profiles"` to see where a turn's CPU goes.
 */
export async function startApi(env: Record<string, string>): Promise<ApiChild> {
  const extra = (process.env.BENCH_API_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const child = spawnNode(
    [...extra, "--expose-gc", "--import", "tsx", "tests/bench/support/api-child.ts"],
    env,
    true,
  );
  const { ready, ipc } = await connectIpc<{ url: string }>(child.process, "API", 60_000, child.stderr);
  return {
    ...child,
    url: ready.url,
    ipc,
    state: () => ipc.call<ApiState>("state"),
    settledMemory: () => ipc.call<NodeJS.MemoryUsage>("settledMemory"),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on `port`. */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  what: string,
  child?: Child,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
      s.connect(port, "127.0.0.1");
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(
    `${what} is not listening on ${port} after ${timeoutMs} ms${child ? `: ${child.stderr()}` : ""}`,
  );
}

export const PORTKEY_VERSION = "1.15.2";

/**
 * The peer: Portkey's open-source gateway (npm @portkey-ai/gateway), its own Node server as
 * published (`build/start-server.js`), `--headless` (no developer log console; the proxy path is the
 * same). Requests are routed to the fake provider with `x-portkey-provider: openai` and
 * `x-portkey-custom-host` (127.0.0.1 is in its default TRUSTED_CUSTOM_HOSTS).
 */
export async function startPortkey(): Promise<Child & { url: string }> {
  const port = await freePort();
  const child = spawnNode(
    ["node_modules/@portkey-ai/gateway/build/start-server.js", `--port=${port}`, "--headless"],
    {},
    false,
  );
  await waitForPort(port, 30_000, "Portkey gateway", child);
  return { ...child, url: `http://127.0.0.1:${port}` };
}

/** The realtime service's container entry point (packages/realtime/src/main.ts), on a chosen port. */
export async function startRealtime(env: Record<string, string>): Promise<Child & { url: string }> {
  const port = await freePort();
  const child = spawnNode(
    ["--import", "tsx", "packages/realtime/src/main.ts"],
    { ...env, PORT: String(port) },
    false,
  );
  await waitForPort(port, 60_000, "realtime service", child);
  return { ...child, url: `http://127.0.0.1:${port}` };
}
