/** Exact decimal arithmetic for tests that check money to the last digit (no floats). */
const SCALE = 24n;

export function toScaled(value: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value.trim());
  if (!m) throw new Error(`not a decimal: ${value}`);
  const frac = (m[3] ?? "").padEnd(Number(SCALE), "0").slice(0, Number(SCALE));
  const v = BigInt(m[2] as string) * 10n ** SCALE + BigInt(frac || "0");
  return m[1] ? -v : v;
}

export function fromScaled(v: bigint): string {
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const int = abs / 10n ** SCALE;
  const frac = (abs % 10n ** SCALE).toString().padStart(Number(SCALE), "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${int}${frac ? `.${frac}` : ""}`;
}

/** Normalizes "0.000123000" and "0.000123" to the same string. */
export const normalize = (value: string): string => fromScaled(toScaled(value));

/** tokens × USD per million tokens, exact. */
export function costOf(tokens: number, usdPerMillion: string): bigint {
  return (BigInt(tokens) * toScaled(usdPerMillion)) / 1_000_000n;
}
