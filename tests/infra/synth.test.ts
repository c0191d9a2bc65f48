import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "aws-cdk-lib/assertions";
import { App, getStack } from "sst/constructs";
import { initProject, useProject } from "sst/project.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import sstConfig from "../../sst.config";
import { Api } from "../../stacks/Api";
import { ANOMALY_SCAN, Jobs } from "../../stacks/Jobs";
import { FUNCTION_GROUPS, type FunctionGroupName, ROUTES, routeKey } from "../../stacks/routes";

/**
 * Synthesizes the app the way `sst deploy` does (sst.config.ts `stacks`, then `app.finish()`, which
 * bundles every handler with esbuild), offline, and asserts on the Api stack's CloudFormation template.
 * No AWS call: SST skips its bootstrap lookups when NODE_ENV is "test", and the account is fixed.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
// Spelled out here rather than imported from the stack, so that dropping one from the stack fails the test.
const SECRETS = [
  "SUPABASE_SERVICE_ROLE_KEY",
  "UPSTASH_REDIS_REST_TOKEN",
  "ANTHROPIC_API_KEY",
  "OPENAI_API_KEY",
  "STREAM_TOKEN_SECRET",
] as const;
const SSM_PLACEHOLDER = "__FETCH_FROM_SSM__";
const SUPABASE_URL = "https://candor-synth-test.supabase.invalid";
const UPSTASH_URL = "https://candor-synth-test.upstash.invalid";
// Secret values in the deployer's environment: none of them may reach the template or a bundle.
const CANARIES = Object.fromEntries(SECRETS.map((name) => [name, `canary-${name}-${randomUUID()}`]));
const GROUPS = Object.keys(FUNCTION_GROUPS) as FunctionGroupName[];

type Json = Record<string, unknown>;
interface CfnResource {
  Type: string;
  Properties: Json;
}

const savedEnv = { ...process.env };
const savedCwd = process.cwd();
let outdir = "";
let template: Template;
let resources: Record<string, CfnResource>;
/** Every stack of the app, by stack name (Api, Jobs, Alarms, and Realtime once wired). */
let allTemplates: Record<string, { Resources: Record<string, CfnResource> }> = {};
let jobsResources: Record<string, CfnResource> = {};

function setEnv(values: Record<string, string | undefined>) {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

/**
 * The stack's template, synthesized by the app itself. (Template.fromStack does the same, but sst@2.49.8
 * pins its own aws-cdk-lib, which is not the root one: its Stack type is not the one fromStack takes.)
 */
function synthesize(app: App, stack: ReturnType<typeof getStack>): Template {
  return Template.fromJSON(app.synth().getStackArtifact(stack.artifactId).template);
}

function newApp(dir: string): App {
  const { config } = useProject();
  return new App(
    {
      mode: "deploy",
      stage: config.stage,
      name: config.name,
      region: config.region,
      account: "123456789012",
    },
    { outdir: dir },
  );
}

/** `{"Fn::GetAtt": [id, "Arn"]}` → id */
function getAttArnId(value: unknown): string {
  const getAtt = (value as { "Fn::GetAtt"?: [string, string] })["Fn::GetAtt"];
  expect(getAtt?.[1]).toBe("Arn");
  return getAtt?.[0] ?? "";
}

/** `{"Fn::Join": ["", ["integrations/", {"Ref": id}]]}` → id */
function integrationIdOfTarget(target: unknown): string {
  const parts = (target as { "Fn::Join"?: [string, unknown[]] })["Fn::Join"]?.[1];
  expect(parts?.[0]).toBe("integrations/");
  return (parts?.[1] as { Ref?: string } | undefined)?.Ref ?? "";
}

function ofType(type: string): [string, CfnResource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function envOf(fnId: string): Record<string, string> {
  const fn = resources[fnId];
  return ((fn?.Properties.Environment as Json | undefined)?.Variables ?? {}) as Record<string, string>;
}

/** `{"Ref": id}` of a function's execution role, as IAM policies list it in `Roles` */
function roleRefOf(fnId: string): { Ref: string } {
  const role = resources[fnId]?.Properties.Role as { "Fn::GetAtt"?: [string, string] } | undefined;
  return { Ref: role?.["Fn::GetAtt"]?.[0] ?? "" };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** route key → logical id of the Lambda function its integration invokes */
function routeTargets(): Map<string, string> {
  const targets = new Map<string, string>();
  for (const [, route] of ofType("AWS::ApiGatewayV2::Route")) {
    const integration = resources[integrationIdOfTarget(route.Properties.Target)];
    expect(integration?.Type).toBe("AWS::ApiGatewayV2::Integration");
    expect(integration?.Properties.IntegrationType).toBe("AWS_PROXY");
    expect(integration?.Properties.PayloadFormatVersion).toBe("2.0");
    targets.set(String(route.Properties.RouteKey), getAttArnId(integration?.Properties.IntegrationUri));
  }
  return targets;
}

beforeAll(async () => {
  setEnv({
    // SST's switch for "no AWS lookups" (bootstrap bucket, live-lambda permissions) during finish()
    NODE_ENV: "test",
    AWS_REGION: "us-east-1",
    // finish() runs `npm install` (of nothing) in each function's artifact folder: keep it off the network
    npm_config_offline: "true",
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
    SST_BUILD_CONCURRENCY: String(GROUPS.length),
  });
  // SST resolves handler paths from the working directory, as `sst deploy` does from the root
  process.chdir(ROOT);
  await initProject({ stage: "test", root: ROOT });
  // after initProject, which loads .env and .env.test over process.env
  setEnv({ SUPABASE_URL, UPSTASH_REDIS_REST_URL: UPSTASH_URL, ...CANARIES });

  outdir = mkdtempSync(join(tmpdir(), "candor-synth-"));
  const app = newApp(outdir);
  await sstConfig.stacks(app);
  await app.finish();
  template = synthesize(app, getStack(Api));
  const assembly = app.synth();
  allTemplates = Object.fromEntries(
    assembly.stacks.map((s) => [s.stackName, s.template as { Resources: Record<string, CfnResource> }]),
  );
  jobsResources = (
    assembly.getStackArtifact(getStack(Jobs).artifactId).template as {
      Resources: Record<string, CfnResource>;
    }
  ).Resources;
  resources = template.toJSON().Resources as Record<string, CfnResource>;
}, 180_000);

afterAll(() => {
  process.chdir(savedCwd);
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  setEnv(savedEnv);
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe("Api stack", () => {
  it("turns every route of stacks/routes.ts into an HTTP API route invoking its group's Lambda", () => {
    const targets = routeTargets();
    expect([...targets.keys()].sort()).toEqual(ROUTES.map(routeKey).sort());
    expect(ofType("AWS::ApiGatewayV2::Route")).toHaveLength(ROUTES.length);
    for (const route of ROUTES) {
      const fn = resources[targets.get(routeKey(route)) ?? ""];
      expect(fn?.Type, routeKey(route)).toBe("AWS::Lambda::Function");
      // the bundled handler keeps its path: the function is the one built from the group's module
      expect(fn?.Properties.Handler, routeKey(route)).toBe(FUNCTION_GROUPS[route.group].handler);
    }
  });

  it("has one function per group, shared by all the routes of the group", () => {
    const targets = routeTargets();
    const byGroup = new Map<FunctionGroupName, Set<string>>();
    for (const route of ROUTES) {
      const set = byGroup.get(route.group) ?? new Set<string>();
      set.add(targets.get(routeKey(route)) ?? "");
      byGroup.set(route.group, set);
    }
    for (const [group, fns] of byGroup) expect(fns.size, group).toBe(1);
    const apiFunctions = new Set(targets.values());
    expect(apiFunctions.size).toBe(GROUPS.length);
  });

  it("bundles each function for nodejs22.x on arm64 with its group's memory and timeout", () => {
    const targets = routeTargets();
    for (const group of GROUPS) {
      const route = ROUTES.find((r) => r.group === group);
      const fn = resources[targets.get(route ? routeKey(route) : "") ?? ""];
      expect(fn, group).toBeDefined();
      const p = fn?.Properties ?? {};
      expect(p.Runtime, group).toBe("nodejs22.x");
      expect(p.Architectures, group).toEqual(["arm64"]);
      expect(p.MemorySize, group).toBe(FUNCTION_GROUPS[group].memoryMB);
      expect(p.Timeout, group).toBe(FUNCTION_GROUPS[group].timeoutSeconds);
      // an S3 asset built by esbuild, not SST's inline placeholder: an ES module with its source map
      // beside it (what NODE_OPTIONS=--enable-source-maps reads)
      const key = String((p.Code as Json).S3Key);
      expect(key, group).toMatch(/^[0-9a-f]{64}\.zip$/);
      const bundle = join(
        outdir,
        `asset.${key.replace(/\.zip$/, "")}`,
        FUNCTION_GROUPS[group].handler.replace(/\.handler$/, ".mjs"),
      );
      expect(readFileSync(bundle, "utf8"), group).toMatch(/\bexport\s*\{[^}]*\bhandler\b/);
      expect(existsSync(`${bundle}.map`), group).toBe(true);
    }
  });

  it("sets the stage, service name, source maps and the Supabase and Upstash URL parameters", () => {
    for (const fnId of new Set(routeTargets().values())) {
      const env = envOf(fnId);
      expect(env.CANDOR_STAGE).toBe("test");
      expect(env.POWERTOOLS_SERVICE_NAME).toBe("candor-api");
      expect(env.NODE_OPTIONS).toBe("--enable-source-maps");
      expect(env.SST_Parameter_value_SUPABASE_URL).toBe(SUPABASE_URL);
      expect(env.SST_Parameter_value_UPSTASH_REDIS_REST_URL).toBe(UPSTASH_URL);
    }
  });

  it("binds every secret through SSM and never puts a secret value in the environment", () => {
    for (const fnId of new Set(routeTargets().values())) {
      const env = envOf(fnId);
      for (const name of SECRETS) {
        expect(env[`SST_Secret_value_${name}`], `${fnId} ${name}`).toBe(SSM_PLACEHOLDER);
        for (const [key, value] of Object.entries(env)) {
          if (key.includes(name)) expect(value, `${fnId} ${key}`).toBe(SSM_PLACEHOLDER);
        }
      }
    }
    // prefetching would copy the values into the functions' configuration at deploy time
    expect(ofType("Custom::SecretPrefetcher")).toHaveLength(0);
    const json = JSON.stringify(template.toJSON());
    for (const [name, canary] of Object.entries(CANARIES)) expect(json.includes(canary), name).toBe(false);
  });

  it("lets each function read its secrets from SSM", () => {
    const policies = ofType("AWS::IAM::Policy");
    for (const fnId of new Set(routeTargets().values())) {
      const roleRef = JSON.stringify(roleRefOf(fnId));
      const statements = policies
        .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleRef))
        .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Json[] }).Statement);
      for (const name of SECRETS) {
        const granted = statements.some(
          (s) =>
            s.Action === "ssm:GetParameters" &&
            JSON.stringify(s.Resource).includes(`/sst/candor/test/Secret/${name}/value`),
        );
        expect(granted, `${fnId} ${name}`).toBe(true);
      }
    }
  });

  it("keeps no secret value in any synthesized file, bundles included", () => {
    const files = filesUnder(outdir);
    expect(files.some((f) => f.endsWith(".mjs"))).toBe(true);
    for (const file of files) {
      const text = readFileSync(file, "latin1");
      for (const [name, canary] of Object.entries(CANARIES))
        expect(text.includes(canary), `${file} ${name}`).toBe(false);
    }
  });

  it("sets a one-month retention on every function's log group and on the access log", () => {
    const retained = new Map<string, unknown>();
    for (const [, r] of ofType("Custom::LogRetention")) {
      const join = (r.Properties.LogGroupName as { "Fn::Join": [string, unknown[]] })["Fn::Join"][1];
      if (join[0] === "/aws/lambda/")
        retained.set((join[1] as { Ref: string }).Ref, r.Properties.RetentionInDays);
    }
    for (const fnId of new Set(routeTargets().values())) expect(retained.get(fnId), fnId).toBe(30);
    const groups = ofType("AWS::Logs::LogGroup");
    expect(groups.length).toBeGreaterThan(0);
    for (const [id, g] of groups) expect(g.Properties.RetentionInDays, id).toBe(30);
  });

  it("exports the API URL", () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const [apiId] = ofType("AWS::ApiGatewayV2::Api").map(([id]) => id);
    expect(outputs.ApiUrl?.Value).toEqual({ "Fn::GetAtt": [apiId, "ApiEndpoint"] });
  });
});

describe("every stack of the app", () => {
  /** The app's own functions (not SST's or CDK's custom-resource handlers), by stack. */
  const appFunctions = () =>
    Object.entries(allTemplates).flatMap(([stackName, t]) =>
      Object.entries(t.Resources)
        .filter(
          ([, r]) =>
            r.Type === "AWS::Lambda::Function" && String(r.Properties.Handler).startsWith("packages/"),
        )
        .map(([id, r]) => ({ stackName, id, r, resources: t.Resources })),
    );

  it("bundles the cost-anomaly scan job as an ES module with its source map", () => {
    const fns = Object.entries(jobsResources).filter(
      ([, r]) => r.Type === "AWS::Lambda::Function" && r.Properties.Handler === ANOMALY_SCAN.handler,
    );
    expect(fns).toHaveLength(1);
    const p = fns[0]?.[1].Properties ?? {};
    expect(p.Runtime).toBe("nodejs22.x");
    expect(p.MemorySize).toBe(ANOMALY_SCAN.memoryMB);
    expect(p.Timeout).toBe(ANOMALY_SCAN.timeoutSeconds);
    const key = String((p.Code as Json).S3Key);
    expect(key).toMatch(/^[0-9a-f]{64}\.zip$/);
    const bundle = join(
      outdir,
      `asset.${key.replace(/\.zip$/, "")}`,
      ANOMALY_SCAN.handler.replace(/\.handler$/, ".mjs"),
    );
    expect(readFileSync(bundle, "utf8")).toMatch(/\bexport\s*\{[^}]*\bhandler\b/);
    expect(existsSync(`${bundle}.map`)).toBe(true);
  });

  it("puts no secret value in any function's environment: secrets are SSM placeholders", () => {
    const fns = appFunctions();
    expect(new Set(fns.map((f) => f.stackName)).size).toBeGreaterThanOrEqual(2);
    for (const { stackName, id, r } of fns) {
      const env = ((r.Properties.Environment as Json | undefined)?.Variables ?? {}) as Record<string, string>;
      for (const [key, value] of Object.entries(env)) {
        if (SECRETS.some((name) => key.includes(name)))
          expect(value, `${stackName} ${id} ${key}`).toBe(SSM_PLACEHOLDER);
      }
    }
    const json = JSON.stringify(allTemplates);
    for (const [name, canary] of Object.entries(CANARIES)) expect(json.includes(canary), name).toBe(false);
  });

  it("sets a one-month log retention for every function of every stack", () => {
    for (const { stackName, id, resources: res } of appFunctions()) {
      const retention = Object.values(res).find(
        (r) =>
          r.Type === "Custom::LogRetention" &&
          JSON.stringify(r.Properties.LogGroupName).includes(`{"Ref":"${id}"}`),
      );
      expect(retention?.Properties.RetentionInDays, `${stackName} ${id}`).toBe(30);
    }
  });
});

describe("Api stack without Upstash", () => {
  it("binds neither the Upstash URL nor its token, so the functions choose the NoOp adapters", async () => {
    setEnv({ UPSTASH_REDIS_REST_URL: undefined });
    const dir = mkdtempSync(join(tmpdir(), "candor-synth-"));
    try {
      const app = newApp(dir);
      await sstConfig.stacks(app);
      // no finish(): bindings are set when the functions are constructed, no bundle is needed here
      const json = synthesize(app, getStack(Api)).toJSON();
      const fns = Object.values(json.Resources as Record<string, CfnResource>).filter(
        (r) => r.Type === "AWS::Lambda::Function" && r.Properties.Environment,
      );
      expect(fns).toHaveLength(GROUPS.length);
      for (const fn of fns) {
        const env = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
        expect(env.SST_Secret_value_SUPABASE_SERVICE_ROLE_KEY).toBe(SSM_PLACEHOLDER);
        expect(Object.keys(env).filter((k) => k.includes("UPSTASH"))).toEqual([]);
      }
    } finally {
      setEnv({ UPSTASH_REDIS_REST_URL: UPSTASH_URL });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
