import type { FunctionProps } from "sst/constructs";

/**
 * Props every Lambda function of the app starts from (sst.config.ts passes them to
 * `app.setDefaultFunctionProps`); a stack adds memory, timeout, environment and bindings per function.
 */
export function defaultFunctionProps(stage: string): FunctionProps {
  return {
    runtime: "nodejs22.x",
    architecture: "arm_64",
    // SST keeps the standard /aws/lambda/<name> log group (what `sst dev` and the console read) and
    // sets its retention; without it CloudWatch keeps the logs, and bills them, forever.
    logRetention: "one_month",
    nodejs: {
      format: "esm",
      minify: true,
      // true keeps the .map file inside the bundle, which `--enable-source-maps` needs; left unset,
      // SST would move it out of the bundle to its own sourcemap bucket.
      sourcemap: true,
      // ESM chunks: what a handler imports lazily (the tokenizer's tables) stays out of its cold start
      splitting: true,
      esbuild: {
        target: "node22",
        // the nodejs22.x runtime provides AWS SDK v3 (sst/node/config reads secrets with client-ssm)
        external: ["@aws-sdk/*"],
      },
    },
    environment: {
      CANDOR_STAGE: stage,
      NODE_OPTIONS: "--enable-source-maps",
    },
  };
}
