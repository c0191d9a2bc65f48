import Anthropic from "@anthropic-ai/sdk";
import { LRUCache } from "lru-cache";
import OpenAI from "openai";
import type { ModelProvider, ProviderResolver } from "../../domain/ports/model-provider.port";
import { CandorError } from "../../errors";
import { AnthropicProvider } from "./anthropic-provider";
import { OpenAIProvider } from "./openai-provider";

export interface ProviderRegistryOptions {
  anthropic?: { apiKey: string; baseUrl?: string | undefined } | undefined;
  openai?: { apiKey: string; baseUrl?: string | undefined } | undefined;
  /** Key sent to OpenAI-compatible endpoints named in tenant policies (many need none). */
  compatibleApiKey?: string | undefined;
  timeoutMs: number;
}

/**
 * Provider clients, built once per cold start. SDK retries are off: Candor retries in one layer
 * (turn service). Keys come from configuration only, never from the database.
 */
export class ProviderRegistry implements ProviderResolver {
  private readonly anthropic: ModelProvider | undefined;
  private readonly openai: ModelProvider | undefined;
  /**
   * Clients of OpenAI-compatible endpoints, by base URL. Bounded local optimization: at most 64
   * endpoints per instance (they come from tenant policies); an evicted client is simply rebuilt.
   */
  private readonly compatible = new LRUCache<string, ModelProvider>({ max: 64 });

  constructor(private readonly o: ProviderRegistryOptions) {
    if (o.anthropic) {
      this.anthropic = new AnthropicProvider(
        new Anthropic({
          apiKey: o.anthropic.apiKey,
          ...(o.anthropic.baseUrl ? { baseURL: o.anthropic.baseUrl } : {}),
          maxRetries: 0,
          timeout: o.timeoutMs,
        }),
      );
    }
    if (o.openai) {
      this.openai = new OpenAIProvider(
        "openai",
        new OpenAI({
          apiKey: o.openai.apiKey,
          ...(o.openai.baseUrl ? { baseURL: o.openai.baseUrl } : {}),
          maxRetries: 0,
          timeout: o.timeoutMs,
        }),
      );
    }
  }

  resolve(provider: string, baseUrl: string | null): ModelProvider {
    if (provider === "anthropic" && !baseUrl) {
      if (!this.anthropic) throw notConfigured("ANTHROPIC_API_KEY");
      return this.anthropic;
    }
    if (provider === "openai" && !baseUrl) {
      if (!this.openai) throw notConfigured("OPENAI_API_KEY");
      return this.openai;
    }
    if (!baseUrl) {
      throw new CandorError(
        "configuration_error",
        `Provider ${provider} has no endpoint in the tenant policy`,
      );
    }
    const key = `${provider} ${baseUrl}`;
    let p = this.compatible.get(key);
    if (!p) {
      p = new OpenAIProvider(
        provider,
        new OpenAI({
          apiKey: this.o.compatibleApiKey ?? "none",
          baseURL: baseUrl,
          maxRetries: 0,
          timeout: this.o.timeoutMs,
        }),
      );
      this.compatible.set(key, p);
    }
    return p;
  }
}

const notConfigured = (variable: string) =>
  new CandorError("configuration_error", `This provider is not configured (${variable} is not set)`);
