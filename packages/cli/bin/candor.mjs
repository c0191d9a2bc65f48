#!/usr/bin/env node
// The candor admin CLI. Runs the TypeScript source through tsx (no build step).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
process.exitCode = await main(process.argv.slice(2));
