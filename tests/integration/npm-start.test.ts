import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

interface LocalJson {
  api_url: string;
  realtime_url: string | null;
  supabase_url: string;
  demo_api_key: string;
  demo_tenant_id: string;
}

async function waitForFile(path: string, child: ChildProcess, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
    try {
      return await readFile(path, "utf8");
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${path} did not appear within ${timeoutMs} ms`);
}

describe("npm start: the offline stack in one command (embedded PGlite, no Redis)", () => {
  let child: ChildProcess | undefined;
  let stateDir = "";
  let output = "";

  afterAll(async () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it("comes up within 60 s, answers /health with the store up, runs a turn, and stops cleanly on Ctrl-C", async () => {
    stateDir = await mkdtemp(join(tmpdir(), "candor-start-"));
    const started = Date.now();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      CANDOR_STATE_DIR: stateDir,
      PORT: "0",
      SUPABASE_PORT: "0",
      UPSTASH_PORT: "0",
      FAKE_PROVIDER_PORT: "0",
      POWERTOOLS_METRICS_DISABLED: "true",
    };
    // its own process group, like a terminal's foreground job: Ctrl-C signals the whole group
    child = spawn("npm", ["start", "--silent"], {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout?.on("data", (d) => {
      output += String(d);
    });
    child.stderr?.on("data", (d) => {
      output += String(d);
    });

    const info = JSON.parse(
      await waitForFile(join(stateDir, "local.json"), child, 60_000).catch((e: Error) => {
        throw new Error(`${e.message}\n--- output ---\n${output}`);
      }),
    ) as LocalJson;
    expect(Object.keys(info).sort()).toEqual([
      "api_url",
      "demo_api_key",
      "demo_tenant_id",
      "realtime_url",
      "supabase_url",
    ]);
    expect(info.demo_api_key).toMatch(/^cnd_live_/);

    const health = await fetch(`${info.api_url}/health`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; dependencies: Record<string, string> };
    expect(body.dependencies.supabase).toBe("up");
    expect(body.dependencies.redis).toBe("noop");
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(output).toMatch(
      /Rate limiting is DISABLED \(fail-open, NoOp\) and caching is DISABLED \(fail-through, NoOp\)/,
    );
    expect(output).toContain(info.demo_api_key);

    // the demo key works and the fake model answers a turn, priced from the database
    const auth = { authorization: `Bearer ${info.demo_api_key}`, "content-type": "application/json" };
    const conv = (await (
      await fetch(`${info.api_url}/v1/conversations`, { method: "POST", headers: auth, body: "{}" })
    ).json()) as { id: string };
    const turn = await fetch(`${info.api_url}/v1/conversations/${conv.id}/messages`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ content: "Hello, local Candor" }),
    });
    expect(turn.status).toBe(201);
    const t = (await turn.json()) as { model: string; cost: { usd: string } };
    expect(t.model).toBe("candor-fake-1");
    expect(Number(t.cost.usd)).toBeGreaterThan(0);

    // the realtime service is part of the stack: its health, and the turn's events on the stream
    expect(info.realtime_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const rt = await fetch(`${info.realtime_url}/health`);
    expect(rt.status).toBe(200);
    const events = await fetch(`${info.realtime_url}/v1/conversations/${conv.id}/events?last_event_id=0`, {
      headers: { authorization: `Bearer ${info.demo_api_key}` },
    });
    expect(events.status).toBe(200);
    const reader = events.body?.getReader();
    let sse = "";
    while (!/event: message\.created[\s\S]*event: message\.created/.test(sse)) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      sse += new TextDecoder().decode(chunk.value);
    }
    expect(sse).toMatch(/event: message\.created[\s\S]*event: message\.created/); // user and assistant
    await reader?.cancel();

    const exited = new Promise<string>((resolve) =>
      child?.once("exit", (code, signal) => resolve(`${code ?? signal}`)),
    );
    process.kill(-(child.pid as number), "SIGINT"); // Ctrl-C
    const code = await Promise.race([
      exited,
      new Promise((r) => setTimeout(() => r("no exit in 15 s"), 15_000)),
    ]);
    // npm itself ends by the signal, as in a terminal; the stack below it stops cleanly
    expect(["0", "SIGINT"], output.slice(-2000)).toContain(code);
    expect(output).toContain("stopped cleanly.");
    await expect(fetch(`${info.api_url}/health`)).rejects.toThrow();
  }, 120_000);
});
