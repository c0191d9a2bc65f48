/** Starts tests/support/api-process.ts in a child process and waits until it listens. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface ChildApiState {
  totals: Record<string, number>;
  breaker: "closed" | "open" | "half_open" | null;
}

export interface ChildApi {
  url: string;
  pid: number;
  /** The child's metrics totals and breaker state (started with `control: true`). */
  state(): Promise<ChildApiState>;
  stop(): Promise<void>;
}

export async function startChildApi(
  env: Record<string, string | undefined>,
  options: { control?: boolean; timeoutMs?: number } = {},
): Promise<ChildApi> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "tests/support/api-process.ts"], {
    cwd: root,
    env: { ...env, ...(options.control ? { CANDOR_TEST_CONTROL: "1" } : {}) } as NodeJS.ProcessEnv,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-4_000);
  });
  let controlUrl: string | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(
      () => reject(new Error(`child API did not start in ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString("utf8");
      controlUrl ??= /CONTROL (\S+)/.exec(out)?.[1];
      const m = /LISTENING (\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
      // the rest (metrics EMF lines) is read and dropped so the pipe never fills
      if (out.length > 10_000) out = out.slice(-200);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`child API exited with ${code}: ${stderr}`));
    });
  });
  return {
    url,
    pid: child.pid as number,
    async state() {
      if (!controlUrl) throw new Error("the child API was started without control: true");
      return (await (await fetch(`${controlUrl}/state`)).json()) as ChildApiState;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
