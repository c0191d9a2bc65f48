import type { Log } from "@candor/core";
import { loadSandboxProvider, SandboxTimeoutError } from "@candor/realtime";
import { describe, expect, it } from "vitest";
import { E2BSandboxProvider } from "../../packages/realtime/src/adapters/e2b-sandbox-provider";

/**
 * The thin E2B adapter against a stand-in for the slice of the SDK it calls (`Sandbox.create`,
 * `runCode`, `kill`, the documented Execution shape): the mapping is what is tested here, not E2B.
 */
class StandInSandbox {
  static created: { opts: unknown; sandbox: StandInSandbox }[] = [];
  killed = false;
  calls: { code: string; opts: Record<string, unknown> }[] = [];
  next: (() => Promise<unknown>) | undefined;
  readonly sandboxId = "sbx-123";

  static async create(opts: unknown) {
    const sandbox = new StandInSandbox();
    StandInSandbox.created.push({ opts, sandbox });
    return sandbox;
  }
  async runCode(code: string, opts: Record<string, unknown>) {
    this.calls.push({ code, opts });
    if (this.next) return this.next();
    return {
      results: [{ toJSON: () => ({ text: "2", png: undefined }) }],
      logs: { stdout: ["a\n", "b\n"], stderr: ["warn\n"] },
      error: undefined,
    };
  }
  async kill() {
    this.killed = true;
  }
}

// the stand-in returns plain objects where the SDK returns its classes: same shape, other types
const sdk = { Sandbox: StandInSandbox } as unknown as ConstructorParameters<typeof E2BSandboxProvider>[0];

describe("E2B sandbox adapter", () => {
  it("creates sandboxes with the key, the lifetime and the metadata, and maps an execution", async () => {
    const provider = new E2BSandboxProvider(sdk, "e2b_test_key");
    const sandbox = await provider.create({ lifetimeMs: 600_000, metadata: { conversation_id: "c1" } });
    expect(StandInSandbox.created.at(-1)?.opts).toEqual({
      apiKey: "e2b_test_key",
      timeoutMs: 600_000,
      metadata: { conversation_id: "c1" },
    });
    expect(sandbox.id).toBe("sbx-123");

    const out = await sandbox.run({ language: "javascript", code: "1 + 1", timeoutMs: 5_000 });
    expect(out).toEqual({
      stdout: "a\nb\n",
      stderr: "warn\n",
      results: [{ text: "2", png: undefined }],
      error: null,
    });
    const raw = StandInSandbox.created.at(-1)?.sandbox as StandInSandbox;
    expect(raw.calls[0]).toEqual({
      code: "1 + 1",
      opts: { language: "js", timeoutMs: 5_000, requestTimeoutMs: 15_000 },
    });

    raw.next = async () => ({
      results: [],
      logs: { stdout: [], stderr: [] },
      error: { name: "ZeroDivisionError", value: "division by zero", traceback: "Traceback…" },
    });
    const failed = await sandbox.run({ language: "python", code: "1/0", timeoutMs: 5_000 });
    expect(failed.error).toEqual({
      name: "ZeroDivisionError",
      value: "division by zero",
      traceback: "Traceback…",
    });
    expect(raw.calls[1]?.opts.language).toBe("python");

    await sandbox.kill();
    expect(raw.killed).toBe(true);
  });

  it("turns the SDK's TimeoutError into a SandboxTimeoutError and passes other failures through", async () => {
    const provider = new E2BSandboxProvider(sdk, "k");
    const sandbox = await provider.create({ lifetimeMs: 60_000, metadata: {} });
    const raw = StandInSandbox.created.at(-1)?.sandbox as StandInSandbox;
    raw.next = async () => {
      const e = new Error("Execution timed out");
      e.name = "TimeoutError";
      throw e;
    };
    await expect(
      sandbox.run({ language: "python", code: "while True: pass", timeoutMs: 100 }),
    ).rejects.toBeInstanceOf(SandboxTimeoutError);
    raw.next = async () => {
      throw new Error("502 from E2B");
    };
    await expect(sandbox.run({ language: "python", code: "1", timeoutMs: 100 })).rejects.toThrow(
      "502 from E2B",
    );
  });

  it("is not loaded at all without E2B_API_KEY", async () => {
    const errors: string[] = [];
    const log: Log = { debug() {}, info() {}, warn() {}, error: (m) => errors.push(m) };
    expect(await loadSandboxProvider(undefined, log)).toBeUndefined();
    expect(errors).toEqual([]);
  });
});
