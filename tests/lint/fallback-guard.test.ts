import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  checkRepository,
  checkSource,
  formatFinding,
  type RuleId,
  rulesFor,
} from "../../tools/guard/fallback-guard";

/**
 * The guard against the prohibited patterns (tools/guard/fallback-guard.ts): each rule against
 * fixtures whose expected findings are marked on their lines (`// expect: <rule>`), then the whole
 * repository, which must be clean. The fixtures are .ts.txt so that neither tsc nor Biome reads them.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const ALL: RuleId[] = ["env-default", "unbounded-collection", "catch-literal"];

function expectedOf(text: string): string[] {
  return text
    .split("\n")
    .flatMap((line, i) => [...line.matchAll(/\/\/ expect: ([a-z-]+)/g)].map((m) => `${i + 1} ${m[1]}`));
}

describe("fallback guard, on its fixtures", () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".ts.txt"));

  it("has a failing and a passing fixture for every rule", () => {
    for (const rule of ALL) {
      expect(files, rule).toContain(`bad-${rule}.ts.txt`);
      expect(files, rule).toContain(`good-${rule}.ts.txt`);
    }
  });

  for (const file of files) {
    it(`reports exactly the marked lines of ${file}`, () => {
      const text = readFileSync(join(FIXTURES, file), "utf8");
      const found = checkSource(file, text, { rules: ALL }).map((f) => `${f.line} ${f.rule}`);
      const expected = expectedOf(text);
      if (file.startsWith("bad-")) expect(expected.length, file).toBeGreaterThanOrEqual(5);
      else expect(expected, file).toEqual([]);
      expect(found.sort(), file).toEqual(expected.sort());
    });
  }

  it("reports only the rules it is asked for", () => {
    const text = readFileSync(join(FIXTURES, "bad-unbounded-collection.ts.txt"), "utf8");
    expect(checkSource("x.ts", text, { rules: ["env-default", "catch-literal"] })).toEqual([]);
  });

  it("says where and why", () => {
    const [f] = checkSource("src/x.ts", 'const u = process.env.SUPABASE_URL ?? "http://localhost:54321";\n', {
      rules: ALL,
    });
    expect(f).toMatchObject({ rule: "env-default", file: "src/x.ts", line: 1, column: 11 });
    expect(formatFinding(f as NonNullable<typeof f>)).toMatch(/^src\/x\.ts:1:11 env-default: .*SUPABASE_URL/);
  });

  it("opts a line out only with a reason", () => {
    const bare = '// guard-allow env-default:\nconst u = process.env.SUPABASE_URL ?? "http://x";\n';
    expect(checkSource("x.ts", bare, { rules: ALL })).toHaveLength(1);
    const other =
      '// guard-allow catch-literal: wrong rule\nconst u = process.env.SUPABASE_URL ?? "http://x";\n';
    expect(checkSource("x.ts", other, { rules: ALL })).toHaveLength(1);
  });
});

describe("fallback guard, on the repository", () => {
  it("applies the rules to packages/*/src, infra and stacks, never to tests", () => {
    expect(rulesFor("packages/core/src/adapters/upstash/upstash-cache.ts")).toEqual(ALL);
    expect(rulesFor("packages/realtime/src/sse/subscription-hub.ts")).toEqual(ALL);
    expect(rulesFor("infra/local/stack.ts")).toEqual(["env-default", "catch-literal"]);
    expect(rulesFor("stacks/Api.ts")).toEqual(["env-default", "catch-literal"]);
    expect(rulesFor("infra/local/upstash/script-registry.test.ts")).toEqual([]);
    expect(rulesFor("tests/support/services.ts")).toEqual([]);
    expect(rulesFor("packages/core/src/types.d.ts")).toEqual([]);
    expect(rulesFor("packages/core/package.json")).toEqual([]);
  });

  it("finds nothing in the codebase", () => {
    const { files, findings } = checkRepository(ROOT);
    // the guarded trees really were read
    expect(files).toBeGreaterThan(80);
    expect(findings.map(formatFinding)).toEqual([]);
  });
});
