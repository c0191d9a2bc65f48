import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALARMS, type AlarmRow, type MetricRef, PRIORITIES, type Priority } from "../../infra/alarms";
import { Alarms, readAlarmSubscriptions } from "../../stacks/Alarms";
import { Api } from "../../stacks/Api";
import { Jobs } from "../../stacks/Jobs";
import { Realtime } from "../../stacks/Realtime";
import { FUNCTION_GROUPS } from "../../stacks/routes";
import {
  type CfnResource,
  type CfnTemplate,
  initSynth,
  type Json,
  ofType,
  ROOT,
  STAGE,
  type SynthesizedApp,
  synthApp,
} from "./synth-app";

/**
 * The Alarms stack against the matrix of infra/alarms.ts: each row is exactly one alarm, on the right
 * metric, statistic, threshold, periods and missing-data treatment, notifying its priority's topic;
 * topics are encrypted, TLS-only and subscribed from the deploy environment; one dashboard shows
 * every alarm; docs/runbook.md has a section for every row. Then the Jobs stack (the anomaly scan)
 * and the Realtime stack (health checks, log retention, secrets). Synthesized without bundling;
 * synth.test.ts covers the bundles.
 */

const EMAILS_P0 = ["oncall@example.com", "lead@example.com"];
const HTTPS_P1 = "https://hooks.example.com/candor/p1";

let synth: SynthesizedApp;
let alarmsT: CfnTemplate;
let apiT: CfnTemplate;
let jobsT: CfnTemplate;
let realtimeT: CfnTemplate;
let skipped: string[];
let hasRealtimeService: boolean;

beforeAll(async () => {
  await initSynth({
    ALARM_P0_EMAILS: EMAILS_P0.join(", "),
    ALARM_P1_HTTPS_URLS: HTTPS_P1,
    ALARM_P2_EMAILS: undefined,
    ALARM_P2_HTTPS_URLS: undefined,
  });
  synth = await synthApp();
  alarmsT = synth.template(Alarms);
  apiT = synth.template(Api);
  jobsT = synth.template(Jobs);
  realtimeT = synth.template(Realtime);
  const { Service } = await import("sst/constructs");
  hasRealtimeService = synth.app.node.findAll().some((c) => c instanceof Service);
  // rows whose target is not in this app
  skipped = ALARMS.map((r) => r.id).filter(
    (id) =>
      !ofType(alarmsT, "AWS::CloudWatch::Alarm").some(
        ([, a]) => a.Properties.AlarmName === `candor-${STAGE}-${id}`,
      ),
  );
}, 120_000);

afterAll(() => synth?.cleanup());

const alarmsNamed = (id: string) =>
  ofType(alarmsT, "AWS::CloudWatch::Alarm").filter(
    ([, a]) => a.Properties.AlarmName === `candor-${STAGE}-${id}`,
  );

/** The properties of the one alarm of a row. */
function alarmProps(id: string): Json {
  const found = alarmsNamed(id);
  expect(found, id).toHaveLength(1);
  return found[0]?.[1].Properties ?? {};
}

/** Logical id of the priority's topic. */
function topicId(p: Priority): string {
  const topics = ofType(alarmsT, "AWS::SNS::Topic").filter(
    ([, t]) => t.Properties.TopicName === `candor-${STAGE}-alarms-${p.toLowerCase()}`,
  );
  expect(topics, p).toHaveLength(1);
  return topics[0]?.[0] ?? "";
}

interface MetricStat {
  Metric: { MetricName: string; Namespace: string; Dimensions: { Name: string; Value: unknown }[] };
  Period: number;
  Stat: string;
}

/** The dimensions a MetricRef must have in the template (`null`: a reference to another resource). */
function expectedDimensions(ref: MetricRef): Record<string, string | null> {
  switch (ref.source) {
    case "app":
      return { service: ref.service, stage: STAGE, ...ref.dimensions };
    case "http-api":
      return { ApiId: null };
    case "lambda":
      return { FunctionName: null };
    case "realtime-target":
      return { LoadBalancer: null, TargetGroup: null };
  }
}

const NAMESPACE: Record<MetricRef["source"], string> = {
  app: "Candor",
  "http-api": "AWS/ApiGateway",
  lambda: "AWS/Lambda",
  "realtime-target": "AWS/ApplicationELB",
};

function expectMetric(
  label: string,
  got: {
    name: string;
    namespace: string;
    dims: { Name: string; Value: unknown }[];
    stat: string;
    period: number;
  },
  ref: MetricRef,
  stat: string,
  period: number,
) {
  expect(got.name, label).toBe(ref.name);
  expect(got.namespace, label).toBe(NAMESPACE[ref.source]);
  expect(got.stat, label).toBe(stat);
  expect(got.period, label).toBe(period);
  const want = expectedDimensions(ref);
  expect(got.dims.map((d) => d.Name).sort(), label).toEqual(Object.keys(want).sort());
  for (const d of got.dims) {
    const v = want[d.Name];
    if (v === null) expect(typeof d.Value, `${label} ${d.Name}`).toBe("object");
    else expect(d.Value, `${label} ${d.Name}`).toBe(v);
  }
}

describe("the alarm matrix", () => {
  it("has unique ids and one row per required alarm of the fault-tolerance principles", () => {
    const ids = ALARMS.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    const byPriority = (p: Priority) => ALARMS.filter((r) => r.priority === p).map((r) => r.id);
    expect(byPriority("P0")).toEqual([
      "supabase-connection-failures",
      "pricing-lookup-failures",
      "auth-validation-failures",
    ]);
    expect(byPriority("P1")).toEqual(
      expect.arrayContaining([
        "redis-down-rate-limiting-disabled",
        "redis-down-caching-disabled",
        "db-load-from-cache-bypass",
        "lambda-errors",
        "lambda-throttles",
        "api-5xx",
        "realtime-unhealthy",
      ]),
    );
    expect(byPriority("P2")).toEqual(
      expect.arrayContaining([
        "db-query-latency-high",
        "db-pool-saturation",
        "otel-export-failures",
        "cost-anomaly",
      ]),
    );
    for (const r of ALARMS) {
      expect(r.runbook.length, r.id).toBeGreaterThan(40);
      expect(r.evaluationPeriods, r.id).toBeGreaterThanOrEqual(r.datapointsToAlarm ?? r.evaluationPeriods);
    }
  });

  it("has a runbook section for every row", () => {
    const runbook = readFileSync(join(ROOT, "docs/runbook.md"), "utf8");
    for (const r of ALARMS) {
      const section = runbook.split(/^## /m).find((s) => s.startsWith(`${r.id}\n`));
      expect(section, r.id).toBeDefined();
      for (const heading of ["What it means", "Meanwhile", "What to do"]) {
        expect(section?.includes(`**${heading}**`), `${r.id}: ${heading}`).toBe(true);
      }
    }
  });
});

describe("Alarms stack", () => {
  it("skips only the realtime health row, and only when the app has no realtime service", () => {
    if (hasRealtimeService) expect(skipped).toEqual([]);
    else expect(skipped).toEqual(["realtime-unhealthy"]);
    // a stack file for the realtime service must be wired into sst.config.ts
    if (existsSync(join(ROOT, "stacks/Realtime.ts"))) expect(hasRealtimeService).toBe(true);
  });

  it("makes exactly one alarm per row, and no other", () => {
    const all = ofType(alarmsT, "AWS::CloudWatch::Alarm");
    expect(all).toHaveLength(ALARMS.length - skipped.length);
    for (const r of ALARMS.filter((x) => !skipped.includes(x.id)))
      expect(alarmsNamed(r.id), r.id).toHaveLength(1);
  });

  it("gives each alarm its row's threshold, comparison, periods, missing-data treatment and topic", () => {
    for (const r of ALARMS.filter((x) => !skipped.includes(x.id))) {
      const p = alarmProps(r.id);
      expect(p.Threshold, r.id).toBe(r.threshold);
      expect(p.ComparisonOperator, r.id).toBe(r.comparison);
      expect(p.EvaluationPeriods, r.id).toBe(r.evaluationPeriods);
      expect(p.DatapointsToAlarm, r.id).toBe(r.datapointsToAlarm ?? r.evaluationPeriods);
      expect(p.TreatMissingData, r.id).toBe(r.missingData);
      expect(p.ActionsEnabled, r.id).toBe(true);
      expect(p.AlarmActions, r.id).toEqual([{ Ref: topicId(r.priority) }]);
      expect(p.OKActions, r.id).toEqual([{ Ref: topicId(r.priority) }]);
      expect(String(p.AlarmDescription), r.id).toContain(`[${r.priority}]`);
      expect(String(p.AlarmDescription), r.id).toContain(`docs/runbook.md#${r.id}`);
    }
  });

  it("watches each row's metric with its statistic and period", () => {
    for (const r of ALARMS.filter((x) => !skipped.includes(x.id))) {
      const p = alarmProps(r.id);
      const signal = r.signal;
      if ("metric" in signal && signal.metric.source !== "lambda") {
        // a single metric: statistic or extended statistic (percentiles)
        const percentile = r.statistic.startsWith("p");
        expect(p.Statistic, r.id).toBe(percentile ? undefined : r.statistic);
        expect(p.ExtendedStatistic, r.id).toBe(percentile ? r.statistic : undefined);
        expectMetric(
          r.id,
          {
            name: String(p.MetricName),
            namespace: String(p.Namespace),
            dims: (p.Dimensions ?? []) as { Name: string; Value: unknown }[],
            stat: String(p.Statistic ?? p.ExtendedStatistic),
            period: Number(p.Period),
          },
          signal.metric,
          r.statistic,
          r.periodSeconds,
        );
        continue;
      }
      // an expression: the one returned value, over the row's metrics
      const metrics = p.Metrics as {
        Id: string;
        Expression?: string;
        ReturnData: boolean;
        MetricStat?: MetricStat;
      }[];
      const returned = metrics.filter((m) => m.ReturnData);
      expect(returned, r.id).toHaveLength(1);
      const stats = metrics.filter((m) => m.MetricStat);
      if ("metric" in signal) {
        // lambda: one FILL per function of the app, every API group and the scan job
        const fnCount = Object.keys(FUNCTION_GROUPS).length + 1;
        expect(stats, r.id).toHaveLength(fnCount);
        expect(returned[0]?.Expression, r.id).toBe(stats.map((m) => `FILL(${m.Id}, 0)`).join(" + "));
        for (const m of stats) {
          const s = m.MetricStat as MetricStat;
          expectMetric(
            `${r.id}/${m.Id}`,
            {
              name: s.Metric.MetricName,
              namespace: s.Metric.Namespace,
              dims: s.Metric.Dimensions,
              stat: s.Stat,
              period: s.Period,
            },
            signal.metric,
            r.statistic,
            r.periodSeconds,
          );
        }
        continue;
      }
      expect(returned[0]?.Expression, r.id).toBe(signal.expression);
      expect(stats.map((m) => m.Id).sort(), r.id).toEqual(Object.keys(signal.metrics).sort());
      for (const m of stats) {
        const ref = signal.metrics[m.Id] as MetricRef & { statistic?: string };
        const s = m.MetricStat as MetricStat;
        expectMetric(
          `${r.id}/${m.Id}`,
          {
            name: s.Metric.MetricName,
            namespace: s.Metric.Namespace,
            dims: s.Metric.Dimensions,
            stat: s.Stat,
            period: s.Period,
          },
          ref,
          ref.statistic ?? r.statistic,
          r.periodSeconds,
        );
      }
    }
  });

  it("sums Lambda errors over every function of the app: the API groups and the scan job", () => {
    const p = alarmProps("lambda-errors");
    const refs = JSON.stringify(p.Metrics);
    // (unbundled, the handler is SST's placeholder: the app's functions are told apart by description)
    const fnIds = [...ofType(apiT, "AWS::Lambda::Function"), ...ofType(jobsT, "AWS::Lambda::Function")]
      .filter(([, f]) => String(f.Properties.Description).startsWith("Candor"))
      .map(([id]) => id);
    expect(fnIds).toHaveLength(Object.keys(FUNCTION_GROUPS).length + 1);
    // cross-stack references name the function's logical id in the export name
    for (const id of fnIds) expect(refs.includes(`ExportsOutputRef${id}`), id).toBe(true);
  });

  it("has one KMS-encrypted, TLS-only topic per priority that CloudWatch may publish to", () => {
    const topics = ofType(alarmsT, "AWS::SNS::Topic");
    expect(topics).toHaveLength(PRIORITIES.length);
    const keys = ofType(alarmsT, "AWS::KMS::Key");
    expect(keys).toHaveLength(1);
    const [keyId, key] = keys[0] as [string, CfnResource];
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const keyStatements = JSON.stringify((key.Properties.KeyPolicy as Json).Statement);
    expect(keyStatements).toContain("cloudwatch.amazonaws.com");
    for (const p of PRIORITIES) {
      const id = topicId(p);
      const topic = alarmsT.Resources[id] as CfnResource;
      expect(topic.Properties.KmsMasterKeyId, p).toEqual({ "Fn::GetAtt": [keyId, "Arn"] });
      const policies = ofType(alarmsT, "AWS::SNS::TopicPolicy").filter(([, tp]) =>
        JSON.stringify(tp.Properties.Topics).includes(`"${id}"`),
      );
      expect(policies, p).toHaveLength(1);
      const document = policies[0]?.[1].Properties.PolicyDocument as { Statement: Json[] } | undefined;
      const statements = document?.Statement ?? [];
      const denyInsecure = statements.find(
        (s) => s.Effect === "Deny" && JSON.stringify(s.Condition).includes('"aws:SecureTransport":"false"'),
      );
      expect(denyInsecure, p).toBeDefined();
      const cloudwatch = statements.find(
        (s) => s.Effect === "Allow" && JSON.stringify(s.Principal).includes("cloudwatch.amazonaws.com"),
      );
      expect(cloudwatch?.Action, p).toBe("sns:Publish");
    }
  });

  it("subscribes each topic from the deploy environment, and nothing else", () => {
    const subs = ofType(alarmsT, "AWS::SNS::Subscription").map(([, s]) => s.Properties);
    const of = (p: Priority) => subs.filter((s) => JSON.stringify(s.TopicArn).includes(`"${topicId(p)}"`));
    expect(
      of("P0")
        .map((s) => [s.Protocol, s.Endpoint])
        .sort(),
    ).toEqual(EMAILS_P0.map((e) => ["email", e]).sort());
    expect(of("P1").map((s) => [s.Protocol, s.Endpoint])).toEqual([["https", HTTPS_P1]]);
    expect(of("P2")).toEqual([]);
    expect(subs).toHaveLength(3);
  });

  it("refuses a malformed subscription, naming the variable", () => {
    expect(() => readAlarmSubscriptions({ ALARM_P0_EMAILS: "oncall@example.com, not-an-email" })).toThrow(
      /ALARM_P0_EMAILS/,
    );
    expect(() => readAlarmSubscriptions({ ALARM_P2_HTTPS_URLS: "http://hooks.example.com/x" })).toThrow(
      /ALARM_P2_HTTPS_URLS/,
    );
    expect(readAlarmSubscriptions({}).P1).toEqual({ emails: [], httpsUrls: [] });
  });

  it("has one dashboard showing every alarm", () => {
    const dashboards = ofType(alarmsT, "AWS::CloudWatch::Dashboard");
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]?.[1].Properties.DashboardBody);
    for (const [id] of ofType(alarmsT, "AWS::CloudWatch::Alarm"))
      expect(body.includes(`"${id}"`), id).toBe(true);
  });

  it("alarms on the stage's own metrics: every Candor dimension set names this stage", () => {
    const json = JSON.stringify(alarmsT);
    const stages = [...json.matchAll(/\{"Name":"stage","Value":"([^"]*)"\}/g)].map((m) => m[1]);
    expect(stages.length).toBeGreaterThan(10);
    expect(new Set(stages)).toEqual(new Set([STAGE]));
  });
});

describe("Jobs stack", () => {
  const scanFunction = () => {
    const fns = ofType(jobsT, "AWS::Lambda::Function").filter(([, f]) =>
      String(f.Properties.Description).startsWith("Candor: cost anomaly scan"),
    );
    expect(fns).toHaveLength(1);
    return fns[0] as [string, CfnResource];
  };

  it("runs the anomaly scan every 5 minutes", () => {
    const [fnId] = scanFunction();
    const rules = ofType(jobsT, "AWS::Events::Rule");
    expect(rules).toHaveLength(1);
    const rule = rules[0]?.[1].Properties as Json;
    expect(rule.ScheduleExpression).toBe("rate(5 minutes)");
    expect(rule.State).toBe("ENABLED");
    expect(JSON.stringify(rule.Targets)).toContain(`"${fnId}"`);
  });

  it("names its service candor-jobs (the cost-anomaly alarm's dimension) and binds only the Supabase secret", () => {
    const [, fn] = scanFunction();
    const env = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(env.POWERTOOLS_SERVICE_NAME).toBe("candor-jobs");
    expect(env.CANDOR_STAGE).toBe(STAGE);
    expect(env.SST_Secret_value_SUPABASE_SERVICE_ROLE_KEY).toBe("__FETCH_FROM_SSM__");
    expect(env.SST_Parameter_value_SUPABASE_URL).toBe("https://candor-synth-test.supabase.invalid");
    const secretVars = Object.keys(env).filter((k) => k.startsWith("SST_Secret_value_"));
    expect(secretVars).toEqual(["SST_Secret_value_SUPABASE_SERVICE_ROLE_KEY"]);
    expect(fn.Properties.Runtime).toBe("nodejs22.x");
    expect(fn.Properties.Timeout).toBe(60);
    const row = ALARMS.find((r) => r.id === "cost-anomaly") as AlarmRow;
    expect("metric" in row.signal && row.signal.metric).toMatchObject({
      service: env.POWERTOOLS_SERVICE_NAME,
    });
  });
});

describe("Realtime stack", () => {
  const taskContainer = () => {
    const defs = ofType(realtimeT, "AWS::ECS::TaskDefinition");
    expect(defs).toHaveLength(1);
    const containers = defs[0]?.[1].Properties.ContainerDefinitions as Json[];
    expect(containers).toHaveLength(1);
    return containers[0] as Json;
  };

  it("has a load-balancer health check on /health and a container health check", () => {
    const groups = ofType(realtimeT, "AWS::ElasticLoadBalancingV2::TargetGroup");
    expect(groups).toHaveLength(1);
    const tg = groups[0]?.[1].Properties ?? {};
    expect(tg.HealthCheckPath).toBe("/health");
    expect(tg.Matcher).toEqual({ HttpCode: "200" });
    const check = taskContainer().HealthCheck as { Command: string[] };
    expect(check.Command.join(" ")).toContain("/health");
  });

  it("keeps its logs a month and holds no secret value in its environment", () => {
    const container = taskContainer();
    const logs = (container.LogConfiguration as { Options: Json }).Options["awslogs-group"];
    const [groupId] = (logs as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"];
    expect(realtimeT.Resources[groupId]?.Properties.RetentionInDays).toBe(30);
    const env = container.Environment as { Name: string; Value: unknown }[];
    const secretVars = env.filter((e) => /SECRET|TOKEN|PASSWORD|_KEY$|DATABASE_URL/.test(e.Name));
    expect(secretVars.map((e) => e.Name)).toEqual(
      expect.arrayContaining(["SST_Secret_value_SUPABASE_SERVICE_ROLE_KEY", "SST_Secret_value_DATABASE_URL"]),
    );
    for (const e of secretVars) expect(e.Value, e.Name).toBe("__FETCH_FROM_SSM__");
    expect(env.find((e) => e.Name === "POWERTOOLS_SERVICE_NAME")?.Value).toBe("candor-realtime");
  });

  it("is what the realtime-unhealthy alarm watches: its target group and load balancer", () => {
    const p = alarmProps("realtime-unhealthy");
    const dims = JSON.stringify(p.Dimensions);
    const tgId = ofType(realtimeT, "AWS::ElasticLoadBalancingV2::TargetGroup")[0]?.[0] ?? "";
    expect(tgId).not.toBe("");
    expect(dims).toContain(`ExportsOutputFnGetAtt${tgId}TargetGroupFullName`);
    expect(dims).toContain("LoadBalancer");
  });
});
