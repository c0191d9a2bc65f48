import { CandorError, type Log } from "@candor/core";
import { codeExecutionUnavailable, SandboxTimeoutError } from "../errors";
import type { RealtimeMetrics } from "../metrics";
import type { ExecutionOutput, ExecutionRequest, Sandbox, SandboxProvider } from "../ports/sandbox.port";
import type { SandboxSessionStatus, SandboxStore } from "../ports/sandbox-store.port";

export interface SandboxPoolOptions {
  provider: SandboxProvider;
  store: SandboxStore;
  log: Log;
  metrics: RealtimeMetrics;
  /** Sandboxes alive at once in this process. */
  maxSize: number;
  /** Unused this long: killed. */
  idleMs: number;
  /** E2B kills a sandbox at this age; the pool retires it a minute before. */
  lifetimeMs: number;
  /** Idle sweep period; default min(idleMs / 2, 30 s). */
  sweepMs?: number;
  now?: () => number;
}

interface Entry {
  readonly tenantId: string;
  readonly conversationId: string;
  readonly createdAt: number;
  sandbox: Promise<Sandbox>;
  sessionId: string | undefined;
  inUse: number;
  lastUsed: number;
  retired: SandboxSessionStatus | undefined;
  destroyed: boolean;
}

export interface PoolRunResult {
  output: ExecutionOutput;
  sandboxId: string;
  sessionId: string | undefined;
  durationMs: number;
}

const RETIRE_MARGIN_MS = 60_000;

/**
 * Sandboxes keyed by conversation: per-instance handles (fault-tolerance §3.2), their metadata in
 * sandbox_sessions. Bounded: at most maxSize; a new conversation past the bound takes the slot of
 * the least recently used idle sandbox, and with none idle it is refused (503, retry). Idle ones are
 * killed after idleMs; all are killed on shutdown.
 */
export class SandboxPool {
  /** Insertion order is recency: an entry is re-inserted on every use, so the first idle one is the LRU. */
  private readonly entries = new Map<string, Entry>();
  private readonly destroying = new Set<Promise<void>>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly o: SandboxPoolOptions) {
    this.now = o.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), o.sweepMs ?? Math.min(o.idleMs / 2, 30_000));
    this.sweeper.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  /** The conversations with a live sandbox, least recently used first (tests, metrics). */
  conversations(): string[] {
    return [...this.entries.keys()];
  }

  async run(tenantId: string, conversationId: string, request: ExecutionRequest): Promise<PoolRunResult> {
    if (this.closed) throw codeExecutionUnavailable("This instance is shutting down");
    let entry = this.entries.get(conversationId);
    if (entry && entry.tenantId !== tenantId) throw new CandorError("not_found", "conversation not found");
    if (entry && entry.inUse === 0 && this.now() - entry.createdAt >= this.o.lifetimeMs - RETIRE_MARGIN_MS) {
      this.retire(entry, "evicted");
      entry = undefined;
    }
    if (entry) {
      this.entries.delete(conversationId);
      this.entries.set(conversationId, entry);
    } else {
      entry = this.create(tenantId, conversationId);
    }
    entry.inUse++;
    try {
      const sandbox = await entry.sandbox;
      const started = performance.now();
      try {
        const output = await sandbox.run(request);
        return { output, sandboxId: sandbox.id, sessionId: entry.sessionId, durationMs: elapsed(started) };
      } catch (error) {
        if (error instanceof SandboxTimeoutError) {
          // the kernel may still be busy with it: this sandbox is done
          this.retire(entry, "evicted");
          return {
            output: {
              stdout: "",
              stderr: "",
              results: [],
              error: {
                name: "TimeoutError",
                value: `Execution exceeded ${request.timeoutMs} ms`,
                traceback: "",
              },
            },
            sandboxId: sandbox.id,
            sessionId: entry.sessionId,
            durationMs: elapsed(started),
          };
        }
        this.retire(entry, "failed");
        this.o.log.warn("sandbox call failed", {
          error: error instanceof Error ? error.message : String(error),
        });
        throw codeExecutionUnavailable("The code execution sandbox failed", error);
      }
    } finally {
      entry.inUse--;
      entry.lastUsed = this.now();
      if (entry.retired && entry.inUse === 0) this.destroy(entry, entry.retired);
      else if (entry.sessionId) {
        const id = entry.sessionId;
        this.o.store.touchSession(id).catch(() => {});
      }
    }
  }

  private create(tenantId: string, conversationId: string): Entry {
    if (this.entries.size >= this.o.maxSize) {
      let victim: Entry | undefined;
      for (const e of this.entries.values()) {
        if (e.inUse === 0) {
          victim = e;
          break;
        }
      }
      if (!victim) {
        throw new CandorError(
          "code_execution_unavailable",
          "Every sandbox of this instance is busy; retry shortly",
          {
            retryAfterSeconds: 5,
          },
        );
      }
      this.retire(victim, "evicted");
    }
    const now = this.now();
    const entry: Entry = {
      tenantId,
      conversationId,
      createdAt: now,
      sandbox: Promise.resolve(undefined as unknown as Sandbox),
      sessionId: undefined,
      inUse: 0,
      lastUsed: now,
      retired: undefined,
      destroyed: false,
    };
    entry.sandbox = (async () => {
      let sandbox: Sandbox;
      try {
        sandbox = await this.o.provider.create({
          lifetimeMs: this.o.lifetimeMs,
          metadata: { tenant_id: tenantId, conversation_id: conversationId },
        });
      } catch (error) {
        this.o.log.warn("sandbox creation failed", {
          error: error instanceof Error ? error.message : String(error),
        });
        throw codeExecutionUnavailable("Could not start a code execution sandbox", error);
      }
      try {
        entry.sessionId = await this.o.store.startSession({
          tenantId,
          conversationId,
          sandboxId: sandbox.id,
        });
      } catch (error) {
        // no record, no sandbox: an unrecorded sandbox would be invisible to operators
        await sandbox.kill().catch(() => {});
        throw new CandorError("store_unavailable", "Could not record the sandbox session", {
          cause: error,
          retryAfterSeconds: 5,
        });
      }
      return sandbox;
    })();
    entry.sandbox.catch(() => {
      if (this.entries.get(conversationId) === entry) this.entries.delete(conversationId);
    });
    this.entries.set(conversationId, entry);
    return entry;
  }

  private retire(entry: Entry, status: SandboxSessionStatus): void {
    if (entry.retired) return;
    entry.retired = status;
    if (this.entries.get(entry.conversationId) === entry) this.entries.delete(entry.conversationId);
    if (entry.inUse === 0) this.destroy(entry, status);
  }

  private destroy(entry: Entry, status: SandboxSessionStatus): void {
    if (entry.destroyed) return;
    entry.destroyed = true;
    const p = (async () => {
      const sandbox = await entry.sandbox.catch(() => undefined);
      if (!sandbox) return;
      await sandbox.kill().catch((error: unknown) =>
        this.o.log.warn("sandbox kill failed", {
          error: error instanceof Error ? error.message : String(error),
        }),
      );
      if (entry.sessionId && status !== "running") {
        await this.o.store.endSession(entry.sessionId, status).catch(() => {});
      }
    })();
    this.destroying.add(p);
    void p.finally(() => this.destroying.delete(p));
  }

  /** Kills the sandboxes idle for idleMs (and those near E2B's lifetime). Returns how many. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const entry of [...this.entries.values()]) {
      if (entry.inUse > 0) continue;
      const idle = now - entry.lastUsed >= this.o.idleMs;
      const old = now - entry.createdAt >= this.o.lifetimeMs - RETIRE_MARGIN_MS;
      if (idle || old) {
        this.retire(entry, "evicted");
        n++;
      }
    }
    this.o.metrics.gauge("e2b_sandboxes", this.entries.size);
    return n;
  }

  /** SIGTERM: refuse new work, kill every sandbox (busy ones too) and record it. */
  async shutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const entry of [...this.entries.values()]) {
      entry.retired = "killed";
      this.entries.delete(entry.conversationId);
      this.destroy(entry, "killed");
    }
    await Promise.allSettled([...this.destroying]);
  }
}

const elapsed = (started: number) => Math.round(performance.now() - started);
