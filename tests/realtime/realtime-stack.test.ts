import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { App, getStack } from "sst/constructs";
import { initProject, useProject } from "sst/project.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api } from "../../stacks/Api";
import { REALTIME_IDLE_TIMEOUT_SECONDS, REALTIME_PORT, Realtime } from "../../stacks/Realtime";

/**
 * The Realtime stack synthesized offline (SST in test mode: no AWS call, no Docker build) and checked
 * on its CloudFormation template. The Api stack is in the app because Realtime uses its secrets.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CANARY = `canary-${randomUUID()}`;

type Json = Record<string, unknown>;
interface CfnResource {
  Type: string;
  Properties: Json;
}

const savedEnv = { ...process.env };
const savedCwd = process.cwd();
let outdir = "";

function setEnv(values: Record<string, string | undefined>) {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

async function synth(env: Record<string, string | undefined>): Promise<Record<string, CfnResource>> {
  setEnv(env);
  const { config } = useProject();
  const app = new App(
    {
      mode: "deploy",
      stage: config.stage,
      name: config.name,
      region: config.region,
      account: "123456789012",
    },
    { outdir: mkdtempSync(join(outdir, "app-")) },
  );
  app.stack(Api);
  app.stack(Realtime);
  const artifact = app.synth().getStackArtifact(getStack(Realtime).artifactId);
  return (artifact.template as { Resources: Record<string, CfnResource> }).Resources;
}

const ofType = (resources: Record<string, CfnResource>, type: string) =>
  Object.values(resources).filter((r) => r.Type === type);

/** The task definition's one container. */
function containerOf(
  resources: Record<string, CfnResource>,
): Json & { Environment: { Name: string; Value: unknown }[] } {
  const [task] = ofType(resources, "AWS::ECS::TaskDefinition");
  const [container] = (task?.Properties.ContainerDefinitions ?? []) as (Json & {
    Environment: { Name: string; Value: unknown }[];
  })[];
  if (!container) throw new Error("no container definition in the template");
  return container;
}

describe("Realtime stack", () => {
  let resources: Record<string, CfnResource>;

  beforeAll(async () => {
    setEnv({ NODE_ENV: "test", AWS_REGION: "us-east-1" });
    process.chdir(ROOT);
    await initProject({ stage: "test", root: ROOT });
    outdir = mkdtempSync(join(tmpdir(), "candor-realtime-synth-"));
    resources = await synth({
      SUPABASE_URL: "https://candor-synth-test.supabase.invalid",
      UPSTASH_REDIS_REST_URL: undefined,
      REALTIME_E2B: undefined,
      REALTIME_CERTIFICATE_ARN: undefined,
      // a secret value in the deployer's environment must never reach the template
      DATABASE_URL: `postgres://u:${CANARY}@db.invalid/postgres`,
      E2B_API_KEY: CANARY,
    });
  }, 120_000);

  afterAll(() => {
    process.chdir(savedCwd);
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    setEnv(savedEnv);
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  it("runs the container on Fargate behind an internet-facing ALB with an idle timeout above the heartbeat", () => {
    const [service] = ofType(resources, "AWS::ECS::Service");
    expect(service?.Properties.LaunchType).toBe("FARGATE");
    const [alb] = ofType(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer");
    expect(alb?.Properties.Scheme).toBe("internet-facing");
    const attributes = alb?.Properties.LoadBalancerAttributes as { Key: string; Value: string }[];
    const idle = Number(attributes.find((a) => a.Key === "idle_timeout.timeout_seconds")?.Value);
    expect(idle).toBe(REALTIME_IDLE_TIMEOUT_SECONDS);
    expect(idle).toBeGreaterThan(15); // the heartbeat interval
    expect(ofType(resources, "AWS::CloudFront::Distribution")).toHaveLength(0);
  });

  it("health-checks /health and drains quickly", () => {
    const [group] = ofType(resources, "AWS::ElasticLoadBalancingV2::TargetGroup");
    expect(group?.Properties).toMatchObject({
      HealthCheckPath: "/health",
      Matcher: { HttpCode: "200" },
      TargetType: "ip",
    });
    const attributes = group?.Properties.TargetGroupAttributes as { Key: string; Value: string }[];
    expect(attributes).toContainEqual({ Key: "deregistration_delay.timeout_seconds", Value: "15" });
    const container = containerOf(resources);
    expect(container.PortMappings).toEqual([expect.objectContaining({ ContainerPort: REALTIME_PORT })]);
    expect((container.HealthCheck as { Command: string[] }).Command.join(" ")).toContain("/health");
    expect(container.StopTimeout).toBe(15);
  });

  it("binds the secrets it needs as SSM placeholders, and no secret value reaches the template", () => {
    const env = Object.fromEntries(containerOf(resources).Environment.map((e) => [e.Name, e.Value]));
    for (const name of ["DATABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "STREAM_TOKEN_SECRET"]) {
      expect(env[`SST_Secret_value_${name}`], name).toBe("__FETCH_FROM_SSM__");
    }
    expect(env.SST_Parameter_value_SUPABASE_URL).toBeDefined();
    // code execution is off unless the deployer enables it: no E2B secret bound
    expect(env.SST_Secret_value_E2B_API_KEY).toBeUndefined();
    expect(env).toMatchObject({
      PORT: String(REALTIME_PORT),
      SSE_HEARTBEAT_MS: "15000",
      CANDOR_STAGE: "test",
    });
    expect(JSON.stringify(resources)).not.toContain(CANARY);
    // the task role may read the bound parameters
    const policies = ofType(resources, "AWS::IAM::Policy").map((p) => JSON.stringify(p.Properties));
    expect(policies.some((p) => p.includes("ssm:GetParameters"))).toBe(true);
  });

  it("binds E2B_API_KEY when the deployer enables code execution, and serves HTTPS with a certificate", async () => {
    const enabled = await synth({
      REALTIME_E2B: "enabled",
      REALTIME_CERTIFICATE_ARN: "arn:aws:acm:us-east-1:123456789012:certificate/synth-test",
    });
    const names = containerOf(enabled).Environment.map((e) => e.Name);
    expect(names).toContain("SST_Secret_value_E2B_API_KEY");
    const [listener] = ofType(enabled, "AWS::ElasticLoadBalancingV2::Listener");
    expect(listener?.Properties).toMatchObject({ Port: 443, Protocol: "HTTPS" });
  });

  it("ships a Dockerfile for node:22-slim that runs as a non-root user with a health check", () => {
    const dockerfile = readFileSync(join(ROOT, "packages/realtime/Dockerfile"), "utf8");
    const stages = dockerfile.match(/^FROM .*/gm) ?? [];
    expect(stages.at(-1)).toBe("FROM node:22-slim");
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/health/m);
    expect(dockerfile).toMatch(/^CMD \["node", "--enable-source-maps", "main.mjs"\]$/m);
  });
});
