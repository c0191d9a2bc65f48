/**
 * Captures everything this test process writes to stdout and stderr: Powertools' logger and metrics
 * write there through their own `Console` (not the global `console`, which vitest intercepts), exactly
 * as a Lambda's output reaches CloudWatch Logs. The global console is captured too, for any library
 * that logs through it.
 */
export interface CapturedOutput {
  /** Every line written since the capture started (or since `mark`), in order. */
  lines(since?: number): string[];
  /** Index to pass to `lines()` to read only what comes after this point. */
  mark(): number;
  /** The whole text, for greps. */
  text(): string;
  restore(): void;
}

type Write = typeof process.stdout.write;

export function captureOutput(options: { passThrough?: boolean } = {}): CapturedOutput {
  let buffer = "";
  const lines: string[] = [];
  const take = (chunk: unknown) => {
    buffer += typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8");
    let nl = buffer.indexOf("\n");
    while (nl >= 0) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf("\n");
    }
  };
  const originals = { out: process.stdout.write, err: process.stderr.write };
  const wrap = (original: Write, stream: NodeJS.WriteStream): Write =>
    ((chunk: unknown, ...rest: unknown[]) => {
      take(chunk);
      if (options.passThrough) return (original as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
      const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      cb?.();
      return true;
    }) as Write;
  process.stdout.write = wrap(originals.out, process.stdout);
  process.stderr.write = wrap(originals.err, process.stderr);

  const consoleMethods = ["log", "info", "warn", "error", "debug", "trace"] as const;
  const savedConsole = consoleMethods.map((m) => [m, console[m]] as const);
  for (const m of consoleMethods) {
    console[m] = (...args: unknown[]) =>
      take(`${args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")}\n`);
  }

  return {
    lines: (since = 0) => lines.slice(since),
    mark: () => lines.length,
    text: () => lines.join("\n") + (buffer ? `\n${buffer}` : ""),
    restore() {
      process.stdout.write = originals.out;
      process.stderr.write = originals.err;
      for (const [m, fn] of savedConsole) console[m] = fn;
    },
  };
}

/** One CloudWatch embedded-metric-format document, as Powertools writes it. */
export interface EmfDocument {
  namespace: string;
  dimensionSets: string[][];
  /** metric name → unit */
  units: Record<string, string>;
  /** metric name → the values of this document */
  values: Record<string, number[]>;
  /** dimension name → value */
  dimensions: Record<string, string>;
}

/** The EMF documents among the captured lines (other JSON lines, the logs, are skipped). */
export function emfDocuments(lines: readonly string[]): EmfDocument[] {
  const docs: EmfDocument[] = [];
  for (const line of lines) {
    if (!line.startsWith("{") || !line.includes('"_aws"')) continue;
    const json = JSON.parse(line) as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: {
          Namespace: string;
          Dimensions: string[][];
          Metrics: { Name: string; Unit: string }[];
        }[];
      };
    };
    for (const directive of json._aws.CloudWatchMetrics) {
      const units: Record<string, string> = {};
      const values: Record<string, number[]> = {};
      for (const m of directive.Metrics) {
        units[m.Name] = m.Unit;
        const v = json[m.Name];
        values[m.Name] = (Array.isArray(v) ? v : [v]).map(Number);
      }
      const dimensions: Record<string, string> = {};
      for (const name of directive.Dimensions.flat()) dimensions[name] = String(json[name]);
      docs.push({
        namespace: directive.Namespace,
        dimensionSets: directive.Dimensions,
        units,
        values,
        dimensions,
      });
    }
  }
  return docs;
}

/** Every value of one metric across documents, in emission order. */
export function metricValues(docs: readonly EmfDocument[], name: string): number[] {
  return docs.flatMap((d) => d.values[name] ?? []);
}

/** JSON log lines (Powertools logger), parsed. */
export function logRecords(lines: readonly string[]): Record<string, unknown>[] {
  return lines
    .filter((l) => l.startsWith("{") && l.includes('"level"') && !l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
