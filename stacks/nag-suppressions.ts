import { AspectPriority, Aspects, CfnResource, type IAspect, Stack } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { Service } from "sst/constructs";

/**
 * The cdk-nag AwsSolutions findings this app accepts, each with its reason, written as cdk-nag's own
 * `cdk_nag` resource metadata (what `NagSuppressions.addResourceSuppressions` writes), so the stacks
 * do not depend on cdk-nag; tests/infra/nag.test.ts runs the pack and requires every other finding
 * to be fixed. Each suppression is narrowed by a predicate on the resource, and by `appliesTo` where
 * the rule reports finding ids, so a new wildcard or a new managed policy is still reported.
 */
export interface NagSuppression {
  rule: string;
  /** Finding ids the suppression is limited to (e.g. one managed policy, `Resource::*`), or a `/regex/`. */
  appliesTo?: (string | { regex: string })[];
  /** Which resources, in words (the test names unused suppressions by it). */
  match: string;
  applies(resource: CfnResource): boolean;
  reason: string;
}

const resolved = (r: CfnResource, value: unknown): unknown => Stack.of(r).resolve(value);

/** Created by an SST `Service` (the realtime service): its VPC, cluster, load balancer. */
const inService = (r: CfnResource): boolean => r.node.scopes.some((c) => c instanceof Service);

/** Write actions that take no resource ARN, so their statement must say `*`. */
const RESOURCELESS_ACTIONS = new Set([
  // X-Ray (Lambda active tracing, enabled by SST on every function)
  "xray:PutTraceSegments",
  "xray:PutTelemetryRecords",
  // CDK's log-retention provider sets the retention of log groups created by Lambda itself
  "logs:PutRetentionPolicy",
  "logs:DeleteRetentionPolicy",
]);

interface Statement {
  Effect?: string;
  Action?: string | string[];
  Resource?: unknown;
}

function wildcardStatementsOnlyResourceless(r: CfnResource): boolean {
  if (r.cfnResourceType !== "AWS::IAM::Policy") return false;
  const doc = resolved(r, (r as unknown as { policyDocument: unknown }).policyDocument) as
    | { Statement?: Statement[] }
    | undefined;
  const wild = (doc?.Statement ?? []).filter(
    (s) => s.Resource === "*" || (Array.isArray(s.Resource) && s.Resource.includes("*")),
  );
  return (
    wild.length > 0 &&
    wild.every((s) =>
      [s.Action ?? []].flat().every((a) => typeof a === "string" && RESOURCELESS_ACTIONS.has(a)),
    )
  );
}

export const NAG_SUPPRESSIONS: readonly NagSuppression[] = [
  {
    rule: "AwsSolutions-IAM4",
    appliesTo: ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
    match: "Lambda execution roles (the app's functions, SST's and CDK's custom-resource handlers)",
    applies: (r) => r.cfnResourceType === "AWS::IAM::Role",
    reason:
      "AWSLambdaBasicExecutionRole only grants logs:CreateLogGroup/CreateLogStream/PutLogEvents, which every " +
      "function needs to write its own logs; a hand-written copy would be the same three actions.",
  },
  {
    rule: "AwsSolutions-IAM5",
    appliesTo: ["Resource::*"],
    match: "policies whose only wildcard statements are X-Ray writes or CDK's log-retention calls",
    applies: wildcardStatementsOnlyResourceless,
    reason:
      "xray:PutTraceSegments/PutTelemetryRecords and logs:Put/DeleteRetentionPolicy (CDK's log-retention " +
      "provider) do not support resource-level permissions: IAM requires Resource '*' for them. Any other " +
      "wildcard in the same policy is still reported.",
  },
  {
    rule: "AwsSolutions-L1",
    match: "Lambda functions on nodejs22.x",
    applies: (r) =>
      r.cfnResourceType === "AWS::Lambda::Function" &&
      resolved(r, (r as unknown as { runtime: unknown }).runtime) === "nodejs22.x",
    reason:
      "nodejs22.x is the newest Node.js runtime SST v2 (sst@2.49.8) builds and runs functions for, and it " +
      "is in AWS standard support; move to the next LTS with the SST upgrade.",
  },
  {
    rule: "AwsSolutions-APIG4",
    match: "HTTP API routes without an API Gateway authorizer",
    applies: (r) =>
      r.cfnResourceType === "AWS::ApiGatewayV2::Route" &&
      [undefined, "NONE"].includes(
        resolved(r, (r as unknown as { authorizationType: unknown }).authorizationType) as string,
      ),
    reason:
      "Every route but GET /health authenticates in its handler: bearer API key, sha-256 lookup through the " +
      "auth cache, fail closed on a store failure (ARCHITECTURE.md, request path step 1). An API Gateway " +
      "authorizer would add a second invocation per request; /health is public by design.",
  },

  // ── the realtime service (stacks/Realtime.ts: SST Service on ECS Fargate behind an ALB) ──────────
  {
    rule: "AwsSolutions-ECS2",
    match: "task definitions whose secret-named variables are all SST's SSM placeholders",
    applies: (r) =>
      r.cfnResourceType === "AWS::ECS::TaskDefinition" &&
      containerEnvironment(r)
        .filter((e) => SECRET_LIKE.test(e.Name ?? ""))
        .every((e) => e.Value === "__FETCH_FROM_SSM__"),
    reason:
      "The variables are non-secret settings (stage, port, heartbeat, service name, Supabase and Upstash URLs). " +
      "Secrets are SST Config.Secret values: the task reads them from SSM at start, the environment only holds " +
      "the __FETCH_FROM_SSM__ placeholder (a secret-named variable with any other value is still reported).",
  },
  {
    rule: "AwsSolutions-IAM5",
    appliesTo: [
      {
        regex:
          "/^Resource::arn:<AWS::Partition>:logs:[^:]+:[^:]+:log-group:<[A-Za-z0-9]+\\.LogGroupName>:\\*$/",
      },
    ],
    match: "the task execution role writing the streams of its own log group",
    applies: (r) => r.cfnResourceType === "AWS::IAM::Policy",
    reason:
      "The wildcard is the log streams of the service's own log group (logs:CreateLogStream/PutLogEvents on " +
      "log-group:<its group>:*): ECS names a stream per task, so the stream names are not known in advance.",
  },
  {
    rule: "AwsSolutions-EC23",
    match: "security groups open to the internet only on port 80/443",
    applies: internetOnlyOnHttpPorts,
    reason:
      "The realtime load balancer is the public endpoint of the SSE streams: clients connect from anywhere, on " +
      "its listener port only; every stream is authenticated by the service (API key or stream token).",
  },
  {
    rule: "AwsSolutions-ELB2",
    match: "the realtime service's application load balancer",
    applies: (r) => r.cfnResourceType === "AWS::ElasticLoadBalancingV2::LoadBalancer" && inService(r),
    reason:
      "Open item for the realtime stack: ALB access logs need an S3 bucket with a retention policy per stage. " +
      "Meanwhile the target health alarm (realtime-unhealthy) watches the balancer, and the service logs its " +
      "errors and counts its rejections (capacity, slow clients) in its own metrics.",
  },
  {
    rule: "AwsSolutions-ECS4",
    match: "the realtime service's ECS cluster",
    applies: (r) => r.cfnResourceType === "AWS::ECS::Cluster" && inService(r),
    reason:
      "Open item for the realtime stack: Container Insights is billed per task and metric. Health is watched " +
      "through the load balancer's target health (alarm realtime-unhealthy) and the service's own metrics.",
  },
  {
    rule: "AwsSolutions-VPC7",
    match: "the realtime service's VPC (created by SST's Service)",
    applies: (r) => r.cfnResourceType === "AWS::EC2::VPC" && inService(r),
    reason:
      "Open item for the realtime stack: the VPC only holds the Fargate tasks and their load balancer (no data " +
      "store; Supabase and E2B are reached over the internet). Flow logs can be added with vpc.addFlowLog once " +
      "someone consumes them.",
  },
];

/** Container environment variables of an ECS task definition (resolved). */
function containerEnvironment(r: CfnResource): { Name?: string; Value?: unknown }[] {
  const defs = resolved(r, (r as unknown as { containerDefinitions: unknown }).containerDefinitions) as
    | { Environment?: { Name?: string; Value?: unknown }[] }[]
    | undefined;
  return (defs ?? []).flatMap((d) => d.Environment ?? []);
}

const SECRET_LIKE = /SECRET|TOKEN|PASSWORD|_KEY$|DATABASE_URL/;

/** Ingress rules open to the internet only on the HTTP(S) listener ports. */
function internetOnlyOnHttpPorts(r: CfnResource): boolean {
  if (r.cfnResourceType !== "AWS::EC2::SecurityGroup") return false;
  // the L2 group's inline rules resolve in its own (camelCase) shape, a raw L1 in CloudFormation's
  const rules = (
    (resolved(r, (r as unknown as { securityGroupIngress: unknown }).securityGroupIngress) ?? []) as Record<
      string,
      unknown
    >[]
  ).map((x) => ({
    cidr: x.CidrIp ?? x.cidrIp,
    cidr6: x.CidrIpv6 ?? x.cidrIpv6,
    from: x.FromPort ?? x.fromPort,
    to: x.ToPort ?? x.toPort,
  }));
  const open = rules.filter((x) => x.cidr === "0.0.0.0/0" || x.cidr6 === "::/0");
  return open.length > 0 && open.every((x) => x.from === x.to && (x.from === 80 || x.from === 443));
}

/** Adds the suppressions to every matching resource of the app, before any read-only aspect (cdk-nag) runs. */
class NagSuppressionsAspect implements IAspect {
  visit(node: IConstruct): void {
    if (!(node instanceof CfnResource)) return;
    const rules = NAG_SUPPRESSIONS.filter((s) => s.applies(node)).map((s) => ({
      id: s.rule,
      reason: s.reason,
      ...(s.appliesTo ? { applies_to: s.appliesTo } : {}),
    }));
    if (rules.length === 0) return;
    const existing = (node.getMetadata("cdk_nag") as { rules_to_suppress?: unknown[] } | undefined)
      ?.rules_to_suppress;
    node.addMetadata("cdk_nag", { rules_to_suppress: [...(existing ?? []), ...rules] });
  }
}

export function applyNagSuppressions(scope: IConstruct): void {
  Aspects.of(scope).add(new NagSuppressionsAspect(), { priority: AspectPriority.MUTATING });
}
