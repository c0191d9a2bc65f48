import { Cron, type StackContext, use } from "sst/constructs";
import { Api } from "./Api";
import { readDeployConfig } from "./deploy-config";

/** The cost-anomaly scan: one bucket (5 minutes) per run. Its alarm is row `cost-anomaly` of infra/alarms.ts. */
export const ANOMALY_SCAN = {
  handler: "packages/functions/src/jobs/anomaly-scan.handler",
  schedule: "rate(5 minutes)",
  memoryMB: 512,
  timeoutSeconds: 60,
} as const;

/** The scan's tuning (packages/functions/src/jobs/root.ts), copied when the deployer sets it. */
export const ANOMALY_TUNING = [
  "COST_ANOMALY_SIGMA",
  "COST_ANOMALY_RATIO",
  "COST_ANOMALY_MIN_USD",
  "COST_ANOMALY_BASELINE_BUCKETS",
  "COST_ANOMALY_MAX_TENANTS",
] as const;

function anomalyTuning(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ANOMALY_TUNING) {
    const v = env[name]?.trim();
    if (v) out[name] = v;
  }
  return out;
}

/**
 * Scheduled jobs. The scan reads the ledger through the RPC cost_spend_window with the service
 * role: it binds the Supabase URL and key declared once by the Api stack, and nothing else.
 */
export function Jobs({ stack }: StackContext) {
  const { secrets, parameters } = use(Api);
  const deploy = readDeployConfig(process.env);

  const anomalyScan = new Cron(stack, "CostAnomalyScan", {
    schedule: ANOMALY_SCAN.schedule,
    job: {
      function: {
        description: "Candor: cost anomaly scan (per-tenant spend per 5 minutes against its trailing day)",
        handler: ANOMALY_SCAN.handler,
        memorySize: ANOMALY_SCAN.memoryMB,
        timeout: ANOMALY_SCAN.timeoutSeconds,
        environment: {
          ...deploy.settings,
          ...anomalyTuning(process.env),
          POWERTOOLS_SERVICE_NAME: "candor-jobs",
          POWERTOOLS_METRICS_NAMESPACE: "Candor",
        },
        bind: [secrets.SUPABASE_SERVICE_ROLE_KEY, parameters.SUPABASE_URL],
      },
    },
  });

  return { anomalyScan: anomalyScan.jobFunction, anomalyScanRule: anomalyScan.cdk.rule };
}
