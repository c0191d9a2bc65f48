import { describe, expect, it } from "vitest";
import { DeployConfigError, readDeployConfig } from "../../stacks/deploy-config";

const SUPABASE_URL = "https://project.supabase.invalid";

describe("readDeployConfig", () => {
  it("refuses to synthesize without SUPABASE_URL, naming it", () => {
    for (const env of [{}, { SUPABASE_URL: "  " }]) {
      const error = (() => {
        try {
          readDeployConfig(env);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(DeployConfigError);
      expect((error as DeployConfigError).variables).toEqual(["SUPABASE_URL"]);
      expect((error as Error).message).toMatch(/SUPABASE_URL is not set/);
    }
  });

  it("rejects a URL that does not parse", () => {
    expect(() => readDeployConfig({ SUPABASE_URL: "project.supabase.co" })).toThrow(
      /SUPABASE_URL is not a valid URL/,
    );
    expect(() => readDeployConfig({ SUPABASE_URL, UPSTASH_REDIS_REST_URL: "nope" })).toThrow(
      /UPSTASH_REDIS_REST_URL is not a valid URL/,
    );
  });

  it("leaves Upstash unconfigured when its URL is absent or blank", () => {
    expect(readDeployConfig({ SUPABASE_URL }).upstashRedisRestUrl).toBeUndefined();
    expect(
      readDeployConfig({ SUPABASE_URL, UPSTASH_REDIS_REST_URL: "" }).upstashRedisRestUrl,
    ).toBeUndefined();
    expect(
      readDeployConfig({ SUPABASE_URL, UPSTASH_REDIS_REST_URL: "https://r.upstash.invalid" })
        .upstashRedisRestUrl,
    ).toBe("https://r.upstash.invalid");
  });

  it("passes the listed non-secret settings through and never a secret", () => {
    const config = readDeployConfig({
      SUPABASE_URL,
      LOG_LEVEL: "DEBUG",
      PROVIDER_TIMEOUT_MS: "25000",
      OPENAI_BASE_URL: "",
      SUPABASE_SERVICE_ROLE_KEY: "service-role",
      ANTHROPIC_API_KEY: "sk-ant",
      OPENAI_API_KEY: "sk-oai",
      UPSTASH_REDIS_REST_TOKEN: "token",
      STREAM_TOKEN_SECRET: "stream",
      E2B_API_KEY: "e2b",
      AWS_SECRET_ACCESS_KEY: "aws",
    });
    expect(config.settings).toEqual({ LOG_LEVEL: "DEBUG", PROVIDER_TIMEOUT_MS: "25000" });
    expect(config.supabaseUrl).toBe(SUPABASE_URL);
  });
});
