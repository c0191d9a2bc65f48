import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { App, getStack } from "sst/constructs";
import { initProject, useProject } from "sst/project.js";
import sstConfig from "../../sst.config";

/**
 * The whole app as `sst deploy` builds it (sst.config.ts), synthesized offline without bundling the
 * handlers (no `app.finish()`: SST puts a placeholder where the code goes, everything else is as
 * deployed). NODE_ENV=test keeps SST away from AWS. See synth.test.ts for the bundled variant.
 */

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const SUPABASE_URL = "https://candor-synth-test.supabase.invalid";
export const UPSTASH_URL = "https://candor-synth-test.upstash.invalid";
export const STAGE = "test";

export type Json = Record<string, unknown>;
export interface CfnResource {
  Type: string;
  Properties: Json;
  Metadata?: Json;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, unknown>;
}

export function setEnv(values: Record<string, string | undefined>) {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

let initialized = false;

/** Once per test file: SST's project (it reads .env files over process.env) and the offline switches. */
export async function initSynth(env: Record<string, string | undefined> = {}) {
  setEnv({ NODE_ENV: "test", AWS_REGION: "us-east-1" });
  process.chdir(ROOT);
  if (!initialized) {
    await initProject({ stage: STAGE, root: ROOT });
    initialized = true;
  }
  setEnv({ SUPABASE_URL, UPSTASH_REDIS_REST_URL: UPSTASH_URL, ...env });
}

export interface SynthesizedApp {
  app: App;
  outdir: string;
  /** Template of the stack built by this stack function. */
  template(fn: Parameters<typeof getStack>[0]): CfnTemplate;
  /** Every stack's template, by stack name. */
  templates(): Record<string, CfnTemplate>;
  cleanup(): void;
}

/** Builds the app from sst.config.ts; `prepare` runs before synthesis (cdk-nag adds its aspect there). */
export async function synthApp(prepare?: (app: App) => void): Promise<SynthesizedApp> {
  const { config } = useProject();
  const outdir = mkdtempSync(join(tmpdir(), "candor-synth-"));
  const app = new App(
    {
      mode: "deploy",
      stage: config.stage,
      name: config.name,
      region: config.region,
      account: "123456789012",
    },
    { outdir },
  );
  await sstConfig.stacks(app);
  prepare?.(app);
  const assembly = app.synth();
  return {
    app,
    outdir,
    template: (fn) => assembly.getStackArtifact(getStack(fn).artifactId).template as CfnTemplate,
    templates: () => Object.fromEntries(assembly.stacks.map((s) => [s.stackName, s.template as CfnTemplate])),
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

export const ofType = (t: CfnTemplate, type: string): [string, CfnResource][] =>
  Object.entries(t.Resources).filter(([, r]) => r.Type === type);
