export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
}

export interface ModelRequest {
  model: string;
  system?: string;
  messages: ChatMessage[];
  maxOutputTokens: number;
  temperature?: number;
  signal?: AbortSignal;
}

export interface ModelUsage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
}

export interface ModelResponse {
  content: string;
  usage: ModelUsage;
  /** "stop" or "length" (normalized across providers). */
  finishReason: string;
}

export type ModelStreamEvent = { type: "delta"; text: string } | { type: "done"; response: ModelResponse };

export type ProviderFailure =
  | "rate_limited"
  | "server"
  | "timeout"
  | "connection"
  | "bad_response"
  | "auth"
  | "bad_request"
  | "aborted";

/** A provider call that failed, normalized. `usage` is set when the provider reported what it consumed. */
export class ProviderError extends Error {
  override readonly name = "ProviderError";
  constructor(
    readonly failure: ProviderFailure,
    message: string,
    readonly options: {
      status?: number;
      retryAfterSeconds?: number;
      usage?: ModelUsage;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  /** Worth another attempt at the same provider: throttling, 5xx, a dropped connection. */
  get retryable(): boolean {
    return this.failure === "rate_limited" || this.failure === "server" || this.failure === "connection";
  }
}

export interface ModelProvider {
  readonly name: string;
  complete(request: ModelRequest): Promise<ModelResponse>;
  /** Streams deltas, then one `done` with the provider's usage. */
  stream(request: ModelRequest): AsyncIterable<ModelStreamEvent>;
}

export interface ProviderResolver {
  /** The provider for a pricing row's provider name (and an OpenAI-compatible base URL from the policy). */
  resolve(provider: string, baseUrl: string | null): ModelProvider;
}
