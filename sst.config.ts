import type { SSTConfig } from "sst";
import { Alarms } from "./stacks/Alarms";
import { Api } from "./stacks/Api";
import { defaultFunctionProps } from "./stacks/function-defaults";
import { Jobs } from "./stacks/Jobs";
import { applyNagSuppressions } from "./stacks/nag-suppressions";
import { Realtime } from "./stacks/Realtime";

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
    // every stage gets the whole system, alarms included: a stage without alarms fails silently
    app.stack(Api);
    app.stack(Realtime);
    app.stack(Jobs);
    // last: it alarms on the functions, the HTTP API and the realtime service of the stacks above
    app.stack(Alarms);
    // the cdk-nag findings accepted on purpose, each with its reason (tests/infra/nag.test.ts)
    applyNagSuppressions(app);
  },
} satisfies SSTConfig;
