import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../support/api-harness";
import { hasPostgres } from "../support/requires";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe.runIf(hasPostgres())("npx candor: the admin CLI over SUPABASE_URL with the service role", () => {
  let api: TestApi;
  let env: Record<string, string>;

  beforeAll(async () => {
    api = await startTestApi();
    env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      SUPABASE_URL: process.env.SUPABASE_URL ?? "",
      SUPABASE_SERVICE_ROLE_KEY: process.env.SUPABASE_SERVICE_ROLE_KEY ?? "",
      CANDOR_STATE_DIR: await mkdtemp(join(tmpdir(), "candor-cli-")),
    };
  });
  afterAll(async () => api?.stop());

  // async: the Supabase endpoint the CLI talks to runs in this process and must keep serving
  const candor = (...args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string; json: () => unknown }>((resolve) => {
      const child = spawn("npx", ["candor", ...args], { cwd: root, env });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += String(d);
      });
      child.stderr.on("data", (d) => {
        err += String(d);
      });
      child.on("close", (code) => resolve({ code, out, err, json: () => JSON.parse(out) }));
    });

  it("creates a tenant with a key shown once, lists, creates and revokes keys", async () => {
    const created = await candor("tenant", "create", "--name", "Acme");
    expect(created.code).toBe(0);
    const { tenant, api_key } = created.json() as {
      tenant: { id: string };
      api_key: { id: string; key: string; prefix: string };
    };
    expect(api_key.key).toMatch(/^cnd_live_[A-Za-z0-9]{32}$/);
    expect(created.err).toContain("shown once");
    // the key works against the API
    expect((await api.fetch("/v1/conversations", { key: api_key.key })).status).toBe(200);

    const second = await candor(
      "key",
      "create",
      "--tenant",
      tenant.id,
      "--name",
      "ci",
      "--scopes",
      "conversations:read",
    );
    expect(second.code).toBe(0);
    const k2 = second.json() as { id: string; key: string; scopes: string[] };
    expect(k2.scopes).toEqual(["conversations:read"]);

    const list = await candor("key", "list", "--tenant", tenant.id);
    expect(list.code).toBe(0);
    const keys = list.json() as { id: string; prefix: string; revoked_at: string | null }[];
    expect(keys.map((k) => k.id).sort()).toEqual([api_key.id, k2.id].sort());
    expect(list.out).not.toContain(api_key.key); // prefixes only, never a key or its hash
    expect(list.out).not.toMatch(/[0-9a-f]{64}/);

    const revoked = await candor("key", "revoke", "--tenant", tenant.id, "--key", k2.id);
    expect(revoked.code).toBe(0);
    expect((revoked.json() as { revoked_at: string }).revoked_at).toBeTruthy();
    expect((await api.fetch("/v1/conversations", { key: k2.key })).status).toBe(401);
    expect((await api.fetch("/v1/conversations", { key: api_key.key })).status).toBe(200);
  });

  it("sets a policy from a file and prices from the CLI and from a pricing file", async () => {
    const t = await api.createTenant();
    const file = join(env.CANDOR_STATE_DIR as string, "policy.json");
    await writeFile(
      file,
      JSON.stringify({
        allowed_providers: ["openai"],
        allowed_models: ["cli-model"],
        monthly_budget_usd: "12.5",
      }),
    );
    const set = await candor("policy", "set", "--tenant", t.tenantId, "--file", file);
    expect(set.code).toBe(0);
    expect(set.json()).toMatchObject({ allowed_models: ["cli-model"], monthly_budget_usd: "12.5000000000" });

    const price = await candor(
      "pricing",
      "set",
      "--provider",
      "openai",
      "--model",
      "cli-model",
      "--input",
      "0.15",
      "--output",
      "0.6",
    );
    expect(price.code).toBe(0);
    expect(price.json()).toMatchObject({ model: "cli-model", input_usd_per_mtok: "0.1500000000" });
    const models = (await (await api.fetch("/v1/models", { key: t.key })).json()) as {
      data: { id: string }[];
    };
    expect(models.data.map((m) => m.id)).toEqual(["cli-model"]);

    const load = await candor("pricing", "load", join(root, "infra/supabase/seed/pricing.json"));
    expect(load.code).toBe(0);
    expect((load.json() as { loaded: number }).loaded).toBeGreaterThan(5);
  });

  it("refuses bad input with a clear message and a usage exit code", async () => {
    const bad = await candor(
      "pricing",
      "set",
      "--provider",
      "openai",
      "--model",
      "m",
      "--input",
      "1e-3",
      "--output",
      "1",
    );
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--input must be a decimal");
    const scope = await candor("key", "create", "--tenant", "x", "--scopes", "root");
    expect(scope.code).toBe(2);
    expect(scope.err).toContain("unknown scope: root");
    const missing = await candor(
      "key",
      "revoke",
      "--tenant",
      "3f2b8c1e-4d5a-4b6c-9d7e-8f9a0b1c2d3e",
      "--key",
      "3f2b8c1e-4d5a-4b6c-9d7e-8f9a0b1c2d3e",
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("not_found");
  });

  it("names the missing configuration when there is no SUPABASE_URL and no local stack", () => {
    const r = spawnSync("npx", ["candor", "key", "list", "--tenant", "x"], {
      cwd: root,
      env: { PATH: env.PATH as string, HOME: env.HOME as string, CANDOR_STATE_DIR: "/nonexistent" },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("SUPABASE_URL");
  });
});
