import { SandboxTimeoutError } from "../errors";
import type { ExecutionOutput, ExecutionRequest, Sandbox, SandboxProvider } from "../ports/sandbox.port";

/**
 * The only file that touches the E2B SDK (`@e2b/code-interpreter`, built on `e2b`; `runCode` lives
 * there). It is loaded on demand, only when E2B_API_KEY is set: a process without the key, or
 * without the package, never loads it and reports code execution unavailable. The types below are
 * the slice of the SDK's documented API this adapter calls.
 */
const SDK_MODULE = "@e2b/code-interpreter";

interface SdkExecution {
  results: { toJSON(): Record<string, unknown> }[];
  logs: { stdout: string[]; stderr: string[] };
  error?: { name: string; value: string; traceback: string };
}

interface SdkSandbox {
  readonly sandboxId: string;
  runCode(
    code: string,
    opts: { language: string; timeoutMs: number; requestTimeoutMs: number },
  ): Promise<SdkExecution>;
  kill(): Promise<unknown>;
}

interface SdkModule {
  Sandbox: {
    create(opts: {
      apiKey: string;
      timeoutMs: number;
      metadata: Record<string, string>;
    }): Promise<SdkSandbox>;
  };
}

// E2B's code interpreter names JavaScript "js"
const LANGUAGE = { python: "python", javascript: "js" } as const;

class E2BSandbox implements Sandbox {
  constructor(private readonly sdk: SdkSandbox) {}

  get id(): string {
    return this.sdk.sandboxId;
  }

  async run(request: ExecutionRequest): Promise<ExecutionOutput> {
    let execution: SdkExecution;
    try {
      execution = await this.sdk.runCode(request.code, {
        language: LANGUAGE[request.language],
        timeoutMs: request.timeoutMs,
        // the request itself may take a little longer than the code's own limit
        requestTimeoutMs: request.timeoutMs + 10_000,
      });
    } catch (error) {
      if (error instanceof Error && error.name === "TimeoutError")
        throw new SandboxTimeoutError(error.message);
      throw error;
    }
    return {
      stdout: execution.logs.stdout.join(""),
      stderr: execution.logs.stderr.join(""),
      results: execution.results.map((r) => r.toJSON()),
      error: execution.error
        ? { name: execution.error.name, value: execution.error.value, traceback: execution.error.traceback }
        : null,
    };
  }

  async kill(): Promise<void> {
    await this.sdk.kill();
  }
}

export class E2BSandboxProvider implements SandboxProvider {
  constructor(
    private readonly sdk: SdkModule,
    private readonly apiKey: string,
  ) {}

  async create(options: { lifetimeMs: number; metadata: Record<string, string> }): Promise<Sandbox> {
    const sandbox = await this.sdk.Sandbox.create({
      apiKey: this.apiKey,
      timeoutMs: options.lifetimeMs,
      metadata: options.metadata,
    });
    return new E2BSandbox(sandbox);
  }
}

/** Loads the SDK; throws when the package is not installed (the caller reports E2B unavailable). */
export async function loadE2BSandboxProvider(apiKey: string): Promise<SandboxProvider> {
  const mod = (await import(/* @vite-ignore */ SDK_MODULE)) as Partial<SdkModule> & { default?: SdkModule };
  // the package's entry is CommonJS: its exports are named, or under `default`, depending on the loader
  const sdk = mod.Sandbox ? (mod as SdkModule) : mod.default;
  if (!sdk?.Sandbox) throw new Error(`${SDK_MODULE} has no Sandbox export`);
  return new E2BSandboxProvider(sdk, apiKey);
}
