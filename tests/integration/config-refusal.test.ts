import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("a deployed stage without Supabase configuration", () => {
  it("stops the Lambda cold start with an error naming the variables and the README section", () => {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      CANDOR_STAGE: "prod",
    };
    const result = spawnSync(
      process.execPath,
      ["--import", "tsx", "-e", "await import('./packages/functions/src/health.ts')"],
      { cwd: root, env, encoding: "utf8", timeout: 60_000 },
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("ConfigError");
    expect(result.stderr).toContain("SUPABASE_URL");
    expect(result.stderr).toContain("SUPABASE_SERVICE_ROLE_KEY");
    expect(result.stderr).toContain('stage "prod"');
    expect(result.stderr).toContain("README.md, section Configuration");
  });
});
