import { Duration } from "aws-cdk-lib";
import { Config, Service, type StackContext, use } from "sst/constructs";
import { Api } from "./Api";
import { readDeployConfig } from "./deploy-config";

/** The container's port (packages/realtime/Dockerfile sets PORT to it). */
export const REALTIME_PORT = 8080;
/** SSE heartbeat: a comment on every stream this often (the service's default, set explicitly here). */
export const REALTIME_HEARTBEAT_SECONDS = 15;
/**
 * The load balancer closes a connection idle this long. A stream is never idle that long (a heartbeat
 * every 15 s), and the service keeps idle keep-alive sockets 125 s, so the balancer closes first.
 */
export const REALTIME_IDLE_TIMEOUT_SECONDS = 120;

/**
 * Deploy-time switch for code execution: `REALTIME_E2B=enabled` binds the E2B_API_KEY secret (set it
 * with `npx sst secrets set E2B_API_KEY …`). A bound secret without a value stops the container at
 * start, so it is bound only when asked for; without it the service reports E2B unavailable.
 */
const e2bEnabled = (env: Record<string, string | undefined>) => env.REALTIME_E2B?.trim() === "enabled";

/**
 * The realtime service: one ECS Fargate service behind an Application Load Balancer (no CloudFront:
 * it would compress and buffer a text/event-stream, and time out quiet origins). Health check on
 * /health; ALB idle timeout above the heartbeat; a short deregistration delay, because on SIGTERM the
 * service itself tells every stream to reconnect (to another task) and closes within 10 s.
 */
export function Realtime({ stack, app }: StackContext) {
  const { secrets, parameters } = use(Api);
  const deploy = readDeployConfig(process.env);

  // a direct connection string (not the pooler): LISTEN needs a session of its own
  const databaseUrl = new Config.Secret(stack, "DATABASE_URL");
  const e2bApiKey = e2bEnabled(process.env) ? new Config.Secret(stack, "E2B_API_KEY") : undefined;

  const bind = [
    parameters.SUPABASE_URL,
    secrets.SUPABASE_SERVICE_ROLE_KEY,
    secrets.STREAM_TOKEN_SECRET,
    databaseUrl,
    ...(parameters.UPSTASH_REDIS_REST_URL
      ? [parameters.UPSTASH_REDIS_REST_URL, secrets.UPSTASH_REDIS_REST_TOKEN]
      : []),
    ...(e2bApiKey ? [e2bApiKey] : []),
  ];

  const certificateArn = process.env.REALTIME_CERTIFICATE_ARN?.trim() || undefined;
  const healthCommand = `fetch('http://127.0.0.1:${REALTIME_PORT}/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`;

  const service = new Service(stack, "Realtime", {
    // the build context is the repository root: the image bundles @candor/core from the workspace
    path: ".",
    file: "packages/realtime/Dockerfile",
    port: REALTIME_PORT,
    cpu: "0.5 vCPU",
    memory: "1 GB",
    scaling: {
      minContainers: app.stage === "prod" ? 2 : 1,
      maxContainers: app.stage === "prod" ? 8 : 2,
      cpuUtilization: 60,
      memoryUtilization: 70,
      // a stream is one long request: request counts say nothing about load here
      requestsPerContainer: false,
    },
    logRetention: "one_month",
    bind,
    environment: {
      ...deploy.settings,
      CANDOR_STAGE: app.stage,
      PORT: String(REALTIME_PORT),
      SSE_HEARTBEAT_MS: String(REALTIME_HEARTBEAT_SECONDS * 1000),
      POWERTOOLS_SERVICE_NAME: "candor-realtime",
      POWERTOOLS_METRICS_NAMESPACE: "Candor",
      REDIS_KEY_PREFIX: `candor:${app.stage}:`,
      // sst/node/config reads the bound secrets from SSM in this region
      SST_REGION: stack.region,
    },
    cdk: {
      cloudfrontDistribution: false,
      applicationLoadBalancer: {
        internetFacing: true,
        idleTimeout: Duration.seconds(REALTIME_IDLE_TIMEOUT_SECONDS),
      },
      ...(certificateArn
        ? { applicationLoadBalancerListener: { port: 443, certificates: [{ certificateArn }] } }
        : {}),
      applicationLoadBalancerTargetGroup: {
        healthCheck: {
          path: "/health",
          healthyHttpCodes: "200",
          interval: Duration.seconds(15),
          timeout: Duration.seconds(5),
          healthyThresholdCount: 2,
          unhealthyThresholdCount: 3,
        },
        deregistrationDelay: Duration.seconds(15),
      },
      fargateService: {
        circuitBreaker: { rollback: true },
        minHealthyPercent: 100,
        maxHealthyPercent: 200,
      },
      container: {
        healthCheck: {
          command: ["CMD", "node", "-e", healthCommand],
          interval: Duration.seconds(15),
          timeout: Duration.seconds(5),
          retries: 3,
          startPeriod: Duration.seconds(20),
        },
        // SIGTERM, then this long before SIGKILL: the service is done within 10 s
        stopTimeout: Duration.seconds(15),
      },
    },
  });

  const alb = service.cdk?.applicationLoadBalancer;
  const url = alb ? `${certificateArn ? "https" : "http"}://${alb.loadBalancerDnsName}` : service.url;
  stack.addOutputs({ RealtimeUrl: url ?? "" });
  return { service, url, databaseUrl, e2bApiKey };
}
