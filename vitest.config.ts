import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts", "packages/*/test/**/*.test.ts", "infra/**/*.test.ts"],
    exclude: ["**/node_modules/**", "tests/bench/**"],
    globalSetup: ["tests/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // 2 cores: two test files at a time keeps timing-sensitive suites honest
    maxWorkers: 2,
    allowOnly: false,
    // EMF lines are asserted by the tests that want them; elsewhere they only bury the output
    env: { POWERTOOLS_METRICS_DISABLED: "true" },
  },
});
