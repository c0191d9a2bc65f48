import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ScriptRegistry, stripKeyLockingFlag } from "./script-registry";

const sha1 = (text: string): string => createHash("sha1").update(text).digest("hex");

describe("stripKeyLockingFlag", () => {
  it("drops only allow-key-locking from the shebang", () => {
    expect(stripKeyLockingFlag("#!lua flags=allow-key-locking\nreturn 1")).toBe("#!lua\nreturn 1");
    expect(stripKeyLockingFlag("#!lua flags=no-writes,allow-key-locking\nreturn 1")).toBe(
      "#!lua flags=no-writes\nreturn 1",
    );
    expect(stripKeyLockingFlag("#!lua name=x flags=allow-key-locking,no-cluster")).toBe(
      "#!lua name=x flags=no-cluster",
    );
  });

  it("leaves scripts without the flag untouched", () => {
    for (const script of [
      "return 1",
      "#!lua\nreturn 1",
      "#!lua flags=no-writes\nreturn 1",
      "-- allow-key-locking",
    ]) {
      expect(stripKeyLockingFlag(script)).toBe(script);
    }
  });
});

describe("ScriptRegistry", () => {
  const flagged = "#!lua flags=allow-key-locking\nreturn 1";
  const rewritten = "#!lua\nreturn 1";

  it("sends EVAL rewritten and translates EVALSHA/SCRIPT EXISTS of the original hash", () => {
    const registry = new ScriptRegistry();
    // before the script was seen, the hash passes through so Redis answers NOSCRIPT
    expect(registry.translate({ name: "evalsha", args: [sha1(flagged), "0"] }).command.args[0]).toBe(
      sha1(flagged),
    );
    expect(registry.translate({ name: "eval", args: [flagged, "0"] }).command.args).toEqual([rewritten, "0"]);
    expect(registry.translate({ name: "EVALSHA_RO", args: [sha1(flagged), "0"] }).command.args[0]).toBe(
      sha1(rewritten),
    );
    expect(
      registry.translate({ name: "script", args: ["exists", sha1(flagged), "abc"] }).command.args,
    ).toEqual(["exists", sha1(rewritten), "abc"]);
  });

  it("answers SCRIPT LOAD with the original hash, and SCRIPT FLUSH forgets the mapping", () => {
    const registry = new ScriptRegistry();
    const { command, reply } = registry.translate({ name: "SCRIPT", args: ["LOAD", flagged] });
    expect(command.args).toEqual(["LOAD", rewritten]);
    expect(String(reply?.(Buffer.from(sha1(rewritten))))).toBe(sha1(flagged));
    registry.translate({ name: "script", args: ["flush"] });
    expect(registry.translate({ name: "evalsha", args: [sha1(flagged), "0"] }).command.args[0]).toBe(
      sha1(flagged),
    );
  });
});
