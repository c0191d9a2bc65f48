import { readFileSync } from "node:fs";
import { CONFIG_VARIABLES } from "@candor/core";
import { describe, expect, it } from "vitest";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("opens with the install command, npm start and the test command", () => {
    const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1]?.trim().split("\n");
    expect(block).toEqual(["npm install", "npm start", "npm test"]);
  });

  it("documents every environment variable the API reads", () => {
    const missing = CONFIG_VARIABLES.filter((v) => !readme.includes(v));
    expect(missing).toEqual([]);
  });
});
