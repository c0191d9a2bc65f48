import type { SSTConfig } from "sst";
import { Api } from "./stacks/Api";
import { defaultFunctionProps } from "./stacks/function-defaults";

export default {
  config(input) {
    // `--region`, else the deployer's AWS_REGION. Without either, SST's App would build the templates
    // for us-east-1 (its own fallback) while the SDK deploys to the profile's region: refuse instead.
    const region = input.region ?? process.env.AWS_REGION;
    if (!region) throw new Error("No AWS region: pass --region <region> or export AWS_REGION.");
    return { name: "candor", region };
  },
  stacks(app) {
    app.setDefaultFunctionProps(defaultFunctionProps(app.stage));
    app.stack(Api);
  },
} satisfies SSTConfig;
