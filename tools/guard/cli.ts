/**
 * `npx tsx tools/guard/cli.ts`: runs the fallback guard over the repository; exit 1 on a finding.
 * (npm test runs the same check through tests/lint/fallback-guard.test.ts.)
 */
import { fileURLToPath } from "node:url";
import { checkRepository, formatFinding } from "./fallback-guard";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { files, findings } = checkRepository(root);
for (const f of findings) console.error(formatFinding(f));
console.error(`fallback guard: ${files} files, ${findings.length} finding(s)`);
process.exitCode = findings.length > 0 ? 1 : 0;
