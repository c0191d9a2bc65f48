export type ExecutionLanguage = "python" | "javascript";

export interface ExecutionRequest {
  language: ExecutionLanguage;
  code: string;
  timeoutMs: number;
}

export interface ExecutionErrorInfo {
  name: string;
  value: string;
  traceback: string;
}

export interface ExecutionOutput {
  stdout: string;
  stderr: string;
  /** Rich results (the last expression, display calls), each a map of formats. */
  results: Record<string, unknown>[];
  /** The code raised (or timed out): an outcome of the code, not a failure of the service. */
  error: ExecutionErrorInfo | null;
}

/** One live sandbox. */
export interface Sandbox {
  readonly id: string;
  run(request: ExecutionRequest): Promise<ExecutionOutput>;
  kill(): Promise<void>;
}

export interface SandboxProvider {
  /** Starts a sandbox that dies on its own after `lifetimeMs` even if this process never kills it. */
  create(options: { lifetimeMs: number; metadata: Record<string, string> }): Promise<Sandbox>;
}
