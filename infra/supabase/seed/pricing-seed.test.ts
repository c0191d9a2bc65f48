/**
 * The seed price lists are data that `npx candor pricing load` turns into `numeric` rows: every price
 * must be an exact decimal string (never a JSON number, which would pass through a float), every
 * (provider, model) must appear once, and the date must say when the figures were read.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FAKE_MODEL } from "../../local/fake-provider";

type PriceRow = Record<string, unknown>;
type PriceFile = {
  as_of: unknown;
  sources: Record<string, { url: string; note: string }>;
  prices: PriceRow[];
};

const load = (name: string): PriceFile =>
  JSON.parse(readFileSync(new URL(`./${name}`, import.meta.url), "utf8")) as PriceFile;

const DECIMAL = /^(0|[1-9]\d*)(\.\d+)?$/;
const PRICE_KEYS = ["input_usd_per_mtok", "output_usd_per_mtok", "cached_input_usd_per_mtok"];

describe.each(["pricing.json", "demo-pricing.json"])("%s", (name) => {
  const file = load(name);

  it("has an as_of date that is a real day, not in the future", () => {
    expect(file.as_of).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const day = new Date(`${String(file.as_of)}T00:00:00Z`);
    expect(day.toISOString().slice(0, 10)).toBe(file.as_of);
    expect(day.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it("gives every price as a decimal string and each (provider, model) once", () => {
    expect(file.prices.length).toBeGreaterThan(0);
    for (const row of file.prices) {
      expect(Object.keys(row).sort()).toEqual(["model", "provider", ...PRICE_KEYS].sort());
      for (const key of PRICE_KEYS) expect(row[key], `${String(row.model)} ${key}`).toMatch(DECIMAL);
      // cached input is a discount on input
      expect(Number(row.cached_input_usd_per_mtok)).toBeLessThanOrEqual(Number(row.input_usd_per_mtok));
    }
    const keys = file.prices.map((row) => `${String(row.provider)}/${String(row.model)}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("names a source for every provider it prices", () => {
    for (const provider of new Set(file.prices.map((row) => String(row.provider)))) {
      expect(file.sources[provider]?.url, provider).toBeTruthy();
      expect(file.sources[provider]?.note.length, provider).toBeGreaterThan(20);
    }
  });
});

it("prices the fake provider's model only in the demo list", () => {
  expect(load("demo-pricing.json").prices.map((row) => row.model)).toEqual([FAKE_MODEL]);
  expect(load("pricing.json").prices.some((row) => row.model === FAKE_MODEL)).toBe(false);
});
