import type {
  ExecutionOutput,
  ExecutionRequest,
  Sandbox,
  SandboxProvider,
  SandboxSessionStatus,
  SandboxStore,
} from "@candor/realtime";
import { SandboxTimeoutError } from "@candor/realtime";

/**
 * A hand-written sandbox implementing the same port as the E2B adapter. It "runs" code by echoing
 * it: `print(x)` → stdout, `raise X` → error, `sleep` → waits until released, `hang` → times out.
 */
export class FakeSandbox implements Sandbox {
  killed = false;
  runs: ExecutionRequest[] = [];
  private releases: (() => void)[] = [];

  constructor(readonly id: string) {}

  async run(request: ExecutionRequest): Promise<ExecutionOutput> {
    if (this.killed) throw new Error("sandbox was killed");
    this.runs.push(request);
    const code = request.code.trim();
    if (code === "sleep") await new Promise<void>((r) => this.releases.push(r));
    if (this.killed) throw new Error("sandbox was killed");
    if (code === "hang") throw new SandboxTimeoutError(`execution timed out after ${request.timeoutMs} ms`);
    const raised = /^raise (\w+)/.exec(code);
    if (raised) {
      return {
        stdout: "",
        stderr: "",
        results: [],
        error: { name: raised[1] as string, value: "raised", traceback: `Traceback: ${raised[1]}` },
      };
    }
    const printed = /^print\((.*)\)$/.exec(code);
    return {
      stdout: printed ? `${printed[1]}\n` : "",
      stderr: "",
      results: printed ? [] : [{ text: code }],
      error: null,
    };
  }

  /** Lets every `sleep` run finish. */
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }

  async kill(): Promise<void> {
    this.killed = true;
    this.release();
  }
}

export class FakeSandboxProvider implements SandboxProvider {
  created: FakeSandbox[] = [];
  failNext = false;
  lastLifetimeMs = 0;

  async create(options: { lifetimeMs: number; metadata: Record<string, string> }): Promise<Sandbox> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error("E2B said no");
    }
    this.lastLifetimeMs = options.lifetimeMs;
    const sandbox = new FakeSandbox(`fake-${this.created.length + 1}-${options.metadata.conversation_id}`);
    this.created.push(sandbox);
    return sandbox;
  }

  get alive(): FakeSandbox[] {
    return this.created.filter((s) => !s.killed);
  }
}

/** sandbox_sessions in memory (a test fake for the pool's unit tests). */
export class FakeSandboxStore implements SandboxStore {
  sessions = new Map<string, { sandboxId: string; status: SandboxSessionStatus; touched: number }>();
  executions: { conversationId: string; payload: Record<string, unknown> }[] = [];

  async startSession(s: { tenantId: string; conversationId: string; sandboxId: string }) {
    const id = `session-${this.sessions.size + 1}`;
    this.sessions.set(id, { sandboxId: s.sandboxId, status: "running", touched: 0 });
    return id;
  }
  async touchSession(id: string) {
    const s = this.sessions.get(id);
    if (s) s.touched++;
  }
  async endSession(id: string, status: Exclude<SandboxSessionStatus, "running">) {
    const s = this.sessions.get(id);
    if (s) s.status = status;
  }
  async recordExecution(_tenantId: string, conversationId: string, payload: Record<string, unknown>) {
    this.executions.push({ conversationId, payload });
    return this.executions.length;
  }
  statusOf(sandboxId: string): SandboxSessionStatus | undefined {
    for (const s of this.sessions.values()) if (s.sandboxId === sandboxId) return s.status;
    return undefined;
  }
}
