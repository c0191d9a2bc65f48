import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { ApplicationTargetGroup } from "aws-cdk-lib/aws-elasticloadbalancingv2";
import { PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Key } from "aws-cdk-lib/aws-kms";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription, UrlSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct } from "constructs";
import { type Function as LambdaFunction, Service, type StackContext, use } from "sst/constructs";
import {
  ALARMS,
  type AlarmRow,
  type Comparison,
  type MetricRef,
  type MissingData,
  PRIORITIES,
  type Priority,
  type Statistic,
} from "../infra/alarms";
import { Api } from "./Api";
import { DeployConfigError } from "./deploy-config";
import { Jobs } from "./Jobs";

/** Where each priority's notifications go, from the deployer's environment (see readAlarmSubscriptions). */
export type AlarmSubscriptions = Record<Priority, { emails: string[]; httpsUrls: string[] }>;

/** `ALARM_P0_EMAILS`, `ALARM_P0_HTTPS_URLS`, … : comma-separated, optional (a topic may have no subscriber yet). */
export const subscriptionVariables = (p: Priority) => ({
  emails: `ALARM_${p}_EMAILS`,
  https: `ALARM_${p}_HTTPS_URLS`,
});

const EMAIL = /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/;

const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v.length > 0);

/** Fails fast, naming the variable, on a malformed address: an alarm must not page nobody by accident. */
export function readAlarmSubscriptions(env: Record<string, string | undefined>): AlarmSubscriptions {
  const out = {} as AlarmSubscriptions;
  for (const p of PRIORITIES) {
    const vars = subscriptionVariables(p);
    const emails = list(env[vars.emails]);
    const httpsUrls = list(env[vars.https]);
    for (const e of emails) {
      if (!EMAIL.test(e))
        throw new DeployConfigError(`${vars.emails}: "${e}" is not an email address.`, [vars.emails]);
    }
    for (const u of httpsUrls) {
      let ok = false;
      try {
        ok = new URL(u).protocol === "https:";
      } catch {
        ok = false;
      }
      if (!ok) throw new DeployConfigError(`${vars.https}: "${u}" is not an https URL.`, [vars.https]);
    }
    out[p] = { emails, httpsUrls };
  }
  return out;
}

const COMPARISON: Record<Comparison, ComparisonOperator> = {
  GreaterThanOrEqualToThreshold: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  GreaterThanThreshold: ComparisonOperator.GREATER_THAN_THRESHOLD,
  LessThanThreshold: ComparisonOperator.LESS_THAN_THRESHOLD,
  LessThanOrEqualToThreshold: ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
};

const MISSING: Record<MissingData, TreatMissingData> = {
  breaching: TreatMissingData.BREACHING,
  notBreaching: TreatMissingData.NOT_BREACHING,
  ignore: TreatMissingData.IGNORE,
  missing: TreatMissingData.MISSING,
};

/** `candor-<stage>-<row id>`: the name tests, the dashboard and the runbook refer to. */
export const alarmName = (stage: string, row: Pick<AlarmRow, "id">) => `candor-${stage}-${row.id}`;

/** What the rows' metrics resolve against: the stage's functions, its HTTP API, the realtime target group. */
interface Targets {
  stage: string;
  functions: LambdaFunction[];
  httpApiId: string;
  realtimeTargetGroup: ApplicationTargetGroup | undefined;
}

/** The realtime service's load-balancer target group, if the app has a deployed Service (not in `sst dev`). */
function findRealtimeTargetGroup(scope: Construct): ApplicationTargetGroup | undefined {
  const services = scope.node.root.node.findAll().filter((c): c is Service => c instanceof Service);
  if (services.length > 1) throw new Error(`Alarms: expected at most one Service, found ${services.length}`);
  const service = services[0];
  if (!service) return undefined;
  return service.node.findAll().find((c): c is ApplicationTargetGroup => c instanceof ApplicationTargetGroup);
}

function metricOf(ref: MetricRef, statistic: Statistic, period: Duration, t: Targets): IMetric | undefined {
  switch (ref.source) {
    case "app":
      return new Metric({
        namespace: "Candor",
        metricName: ref.name,
        dimensionsMap: { service: ref.service, stage: t.stage, ...ref.dimensions },
        statistic,
        period,
      });
    case "http-api":
      return new Metric({
        namespace: "AWS/ApiGateway",
        metricName: ref.name,
        dimensionsMap: { ApiId: t.httpApiId },
        statistic,
        period,
      });
    case "lambda": {
      // every function of the app, each missing datapoint read as 0 (an idle function reports nothing)
      const usingMetrics = Object.fromEntries(
        t.functions.map((fn, i) => [`f${i}`, fn.metric(ref.name, { statistic, period })]),
      );
      if (t.functions.length === 0 || t.functions.length > 10) {
        throw new Error(`Alarms: ${t.functions.length} functions for one expression (1 to 10 allowed)`);
      }
      return new MathExpression({
        expression: Object.keys(usingMetrics)
          .map((id) => `FILL(${id}, 0)`)
          .join(" + "),
        usingMetrics,
        label: `${ref.name}, all functions`,
        period,
      });
    }
    case "realtime-target": {
      const tg = t.realtimeTargetGroup;
      if (!tg) return undefined;
      return ref.name === "HealthyHostCount"
        ? tg.metrics.healthyHostCount({ statistic, period })
        : tg.metrics.unhealthyHostCount({ statistic, period });
    }
  }
}

/** The row's signal as one CloudWatch metric or expression; undefined when its target is absent. */
function signalOf(row: AlarmRow, t: Targets): IMetric | undefined {
  const period = Duration.seconds(row.periodSeconds);
  if ("metric" in row.signal) return metricOf(row.signal.metric, row.statistic, period, t);
  const usingMetrics: Record<string, IMetric> = {};
  for (const [id, ref] of Object.entries(row.signal.metrics)) {
    if (ref.source === "lambda")
      throw new Error(`Alarms: ${row.id}: lambda metrics cannot nest in an expression`);
    const m = metricOf(ref, ref.statistic ?? row.statistic, period, t);
    if (!m) return undefined;
    usingMetrics[id] = m;
  }
  return new MathExpression({
    expression: row.signal.expression,
    usingMetrics,
    label: row.signal.label,
    period,
  });
}

/**
 * Alarms as code: one SNS topic per priority (KMS-encrypted, TLS only, subscriptions from the deploy
 * environment), one CloudWatch alarm per row of infra/alarms.ts notifying its priority's topic on
 * ALARM and on OK, and one dashboard.
 */
export function Alarms({ stack, app }: StackContext) {
  const { api, functions } = use(Api);
  const { anomalyScan } = use(Jobs);
  const subscriptions = readAlarmSubscriptions(process.env);

  // CloudWatch must be able to encrypt for the topic: the AWS-managed SNS key does not allow it
  const key = new Key(stack, "AlarmTopicsKey", {
    description: `Candor ${app.stage}: encrypts the alarm topics`,
    enableKeyRotation: true,
    // it protects notifications in flight only: nothing is lost with it
    removalPolicy: RemovalPolicy.DESTROY,
    pendingWindow: Duration.days(7),
  });
  const alarmArns = `arn:${Stack.of(stack).partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`;
  key.addToResourcePolicy(
    new PolicyStatement({
      sid: "CloudWatchAlarmsEncrypt",
      principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
      actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
      resources: ["*"],
      conditions: {
        ArnLike: { "aws:SourceArn": alarmArns },
        StringEquals: { "aws:SourceAccount": stack.account },
      },
    }),
  );

  const topics = {} as Record<Priority, Topic>;
  for (const p of PRIORITIES) {
    const topic = new Topic(stack, `${p}Topic`, {
      topicName: `candor-${app.stage}-alarms-${p.toLowerCase()}`,
      displayName: `Candor ${app.stage} ${p} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: "CloudWatchAlarmsPublish",
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [topic.topicArn],
        conditions: {
          ArnLike: { "aws:SourceArn": alarmArns },
          StringEquals: { "aws:SourceAccount": stack.account },
        },
      }),
    );
    for (const email of subscriptions[p].emails) topic.addSubscription(new EmailSubscription(email));
    for (const url of subscriptions[p].httpsUrls) topic.addSubscription(new UrlSubscription(url));
    topics[p] = topic;
  }

  const targets: Targets = {
    stage: app.stage,
    functions: [...Object.values(functions), anomalyScan].filter((f): f is LambdaFunction => f !== undefined),
    httpApiId: api.cdk.httpApi.apiId,
    realtimeTargetGroup: findRealtimeTargetGroup(stack),
  };

  const alarms: Record<string, Alarm> = {};
  /** Rows without their target in this app (the realtime service in `sst dev`, or not yet deployed). */
  const skipped: string[] = [];
  for (const row of ALARMS) {
    const metric = signalOf(row, targets);
    if (!metric) {
      skipped.push(row.id);
      continue;
    }
    const alarm = new Alarm(stack, `Alarm-${row.id}`, {
      alarmName: alarmName(app.stage, row),
      alarmDescription: `[${row.priority}] ${row.title}. ${row.runbook} Runbook: docs/runbook.md#${row.id}`,
      metric,
      threshold: row.threshold,
      comparisonOperator: COMPARISON[row.comparison],
      evaluationPeriods: row.evaluationPeriods,
      datapointsToAlarm: row.datapointsToAlarm ?? row.evaluationPeriods,
      treatMissingData: MISSING[row.missingData],
      actionsEnabled: true,
    });
    alarm.addAlarmAction(new SnsAction(topics[row.priority]));
    alarm.addOkAction(new SnsAction(topics[row.priority]));
    alarms[row.id] = alarm;
  }

  const dashboard = new Dashboard(stack, "Dashboard", { dashboardName: `candor-${app.stage}` });
  const stat = (name: string, statistic: string, service = "candor-api") =>
    new Metric({
      namespace: "Candor",
      metricName: name,
      dimensionsMap: { service, stage: app.stage },
      statistic,
      period: Duration.minutes(1),
    });
  dashboard.addWidgets(
    new TextWidget({
      markdown: `# Candor ${app.stage}\nAlarms from infra/alarms.ts; what to do: docs/runbook.md. P0 act now, P1 within the hour, P2 within four hours.`,
      width: 24,
      height: 2,
    }),
  );
  for (const p of PRIORITIES) {
    const mine = ALARMS.filter((r) => r.priority === p && alarms[r.id]).map((r) => alarms[r.id] as Alarm);
    dashboard.addWidgets(new AlarmStatusWidget({ title: `${p} alarms`, alarms: mine, width: 24, height: 3 }));
  }
  dashboard.addWidgets(
    new GraphWidget({
      title: "Dependencies (1 = up)",
      left: [stat("supabase_connection_status", "Average"), stat("redis_connection_status", "Average")],
      width: 12,
    }),
    new GraphWidget({
      title: "Fail open / fail through (per minute)",
      left: [stat("rate_limit_bypass_count", "Sum"), stat("cache_bypass_count", "Sum")],
      right: [stat("cache_hit_rate", "Average")],
      width: 12,
    }),
    new GraphWidget({
      title: "Database calls",
      left: [stat("database_query_duration", "p95"), stat("database_query_duration", "p50")],
      right: [stat("database_query_duration", "SampleCount")],
      width: 12,
    }),
    new GraphWidget({
      title: "Rate-limit checks and failures that page (per minute)",
      left: [stat("rate_limit_checks_per_second", "Sum")],
      right: [
        stat("pricing_lookup_errors", "Sum"),
        stat("auth_validation_errors", "Sum"),
        stat("otel_export_failures", "Sum"),
      ],
      width: 12,
    }),
    new GraphWidget({
      title: "Providers: p95 latency (ms) and errors",
      left: [
        new MathExpression({
          expression: `SEARCH('{Candor,provider,service,stage} MetricName="provider_latency" stage="${app.stage}"', 'p95', 300)`,
          label: "",
          period: Duration.minutes(5),
        }),
      ],
      right: [
        new MathExpression({
          expression: `SEARCH('{Candor,provider,service,stage} MetricName="provider_errors" stage="${app.stage}"', 'Sum', 300)`,
          label: "",
          period: Duration.minutes(5),
        }),
      ],
      width: 12,
    }),
    new GraphWidget({
      title: "Realtime pool and cost anomalies",
      left: [stat("db_pool_in_use", "Maximum", "candor-realtime")],
      right: [stat("cost_anomaly_count", "Sum", "candor-jobs")],
      width: 12,
    }),
  );

  stack.addOutputs({ DashboardName: dashboard.dashboardName });
  return { topics, alarms, dashboard, skipped };
}
