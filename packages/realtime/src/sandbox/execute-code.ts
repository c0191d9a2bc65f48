import { CandorError } from "@candor/core";
import type { RealtimeMetrics } from "../metrics";
import type { GraphEventStore } from "../ports/event-store.port";
import type { ExecutionErrorInfo, ExecutionLanguage } from "../ports/sandbox.port";
import type { SandboxStore } from "../ports/sandbox-store.port";
import type { SandboxPool } from "./sandbox-pool";

export interface ExecuteCodeInput {
  tenantId: string;
  conversationId: string;
  language: ExecutionLanguage;
  code: string;
  timeoutMs: number;
}

export interface ExecuteCodeResult {
  stdout: string;
  stderr: string;
  results: Record<string, unknown>[];
  error: ExecutionErrorInfo | null;
  duration_ms: number;
}

export interface ExecuteCodeDeps {
  pool: SandboxPool;
  events: GraphEventStore;
  store: SandboxStore;
  metrics: RealtimeMetrics;
}

/**
 * Runs code in the conversation's sandbox and appends `execution.completed` to its graph events
 * (subscribers see it like any other event). Another tenant's conversation is not found.
 */
export async function executeCode(
  input: ExecuteCodeInput,
  deps: ExecuteCodeDeps,
): Promise<ExecuteCodeResult> {
  const conversation = await deps.events.openConversation(input.tenantId, input.conversationId);
  if (!conversation) throw new CandorError("not_found", "conversation not found");
  const run = await deps.pool.run(input.tenantId, input.conversationId, {
    language: input.language,
    code: input.code,
    timeoutMs: input.timeoutMs,
  });
  deps.metrics.count("e2b_executions", 1, { outcome: run.output.error ? "error" : "ok" });
  deps.metrics.timing("e2b_execution_duration", run.durationMs);
  // the execution happened: a failure to record it is the store's 503, not a lost result silently
  await deps.store.recordExecution(input.tenantId, input.conversationId, {
    language: input.language,
    duration_ms: run.durationMs,
    status: run.output.error ? "error" : "ok",
    error_name: run.output.error?.name ?? null,
    sandbox_session_id: run.sessionId ?? null,
  });
  return { ...run.output, duration_ms: run.durationMs };
}
