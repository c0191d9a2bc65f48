/**
 * A guard against the prohibited patterns of the fault-tolerance principles (§2, §6.2, §7.1), as a
 * TypeScript-AST check (the `typescript` compiler API; no type information needed):
 *
 * - `env-default`: a literal fallback for a required dependency: `process.env.X || "…"`,
 *   `process.env.X ?? "…"`, `const { X = "…" } = process.env`, or a zod `.default("…")`, where X
 *   names a connection or a credential (…_URL, _URI, _ENDPOINT, _DSN, _KEY, _TOKEN, _SECRET,
 *   _PASSWORD) or the literal is a URL. A required dependency has no default; an optional one is off
 *   when unset. Scope: packages/*\/src, infra, stacks.
 * - `unbounded-collection`: a `new Map()`, `new Set()` or `new LRUCache()` held beyond a request (at
 *   module level, or in a class field, which lives as long as the composition root that built the
 *   object) without a comment declaring it a bounded local optimization or per-instance state, with
 *   its bound. The comment goes on the declaration, or on the class for its fields. Scope:
 *   packages/*\/src.
 * - `catch-literal`: a `catch` (or a promise `.catch` / rejection handler) that returns data written
 *   out in the source (an object or array made only of literals, or an UPPER_CASE constant table or
 *   one of its entries) standing in for the data that failed to load. A degradation value that says
 *   so (`{ status: "bypassed", reason }`, `{ allowed: true, mode: "bypassed" }`) is allowed: it
 *   carries a field naming the failure mode. Values computed from the error or the request (an error
 *   response) are not literals.
 *   Scope: packages/*\/src, infra, stacks.
 *
 * A line can opt out with a comment `guard-allow <rule>: <reason>` on it or just above it.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import ts from "typescript";

export type RuleId = "env-default" | "unbounded-collection" | "catch-literal";

export interface Finding {
  rule: RuleId;
  file: string;
  line: number;
  column: number;
  message: string;
  text: string;
}

export interface CheckOptions {
  /** Which rules apply to this file (see rulesFor). */
  rules: readonly RuleId[];
}

const DEPENDENCY_NAME = /(^|_)(URL|URI|ENDPOINT|DSN|KEY|TOKEN|SECRET|PASSWORD)$/;
const URL_LITERAL = /^[a-z][a-z0-9+.-]*:\/\//i;
const COLLECTIONS = new Set(["Map", "Set", "LRUCache"]);
/** The comment of a kept collection: what it is (bounded / per instance / local optimization)… */
const DECLARES_KIND = /\b(bounded|per[- ]instance|local optimi[sz]ation)\b/i;
/** …and its bound. */
const STATES_BOUND =
  /(\d|\bat most\b|\bmax(imum|Size)?\b|\bcapped\b|\bclosed set\b|\bfixed set\b|\bone per\b|\bsmall set\b)/i;
/** Fields of a degradation value: the result says the data is absent, and why. */
const DEGRADATION_FIELDS = new Set([
  "status",
  "mode",
  "reason",
  "error",
  "ok",
  "degraded",
  "bypassed",
  "available",
]);
const CONSTANT_TABLE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/;

function allowed(sf: ts.SourceFile, node: ts.Node, rule: RuleId): boolean {
  const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
  const lines = sf.text.split("\n");
  const pattern = new RegExp(`guard-allow ${rule}:\\s*\\S`);
  return [lines[line], lines[line - 1]].some((l) => l !== undefined && pattern.test(l));
}

function finding(sf: ts.SourceFile, node: ts.Node, rule: RuleId, message: string): Finding {
  const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
  return {
    rule,
    file: sf.fileName,
    line: line + 1,
    column: character + 1,
    message,
    text: node.getText(sf).split("\n")[0]?.slice(0, 160) ?? "",
  };
}

// ── env-default ─────────────────────────────────────────────────────────────────────────────────

const isProcessEnv = (e: ts.Expression): boolean =>
  ts.isPropertyAccessExpression(e) &&
  ts.isIdentifier(e.expression) &&
  e.expression.text === "process" &&
  e.name.text === "env";

/** `process.env.X`, `process.env["X"]`, `env.X` (a parameter or variable named env): the name X. */
function envName(e: ts.Expression): string | undefined {
  const inner = ts.isParenthesizedExpression(e) ? e.expression : ts.isNonNullExpression(e) ? e.expression : e;
  const owner = (o: ts.Expression) =>
    isProcessEnv(o) || (ts.isIdentifier(o) && /^(env|environment)$/i.test(o.text));
  if (ts.isPropertyAccessExpression(inner) && owner(inner.expression)) return inner.name.text;
  if (
    ts.isElementAccessExpression(inner) &&
    owner(inner.expression) &&
    ts.isStringLiteralLike(inner.argumentExpression)
  )
    return inner.argumentExpression.text;
  return undefined;
}

/** The env names read anywhere in a `||`/`??` chain's left side (`a ?? process.env.X ?? "lit"`). */
function envNamesInChain(e: ts.Expression): string[] {
  if (ts.isBinaryExpression(e) && isFallbackOperator(e.operatorToken.kind)) {
    return [...envNamesInChain(e.left), ...envNamesInChain(e.right)];
  }
  const n = envName(e);
  return n ? [n] : [];
}

const isFallbackOperator = (k: ts.SyntaxKind) =>
  k === ts.SyntaxKind.BarBarToken || k === ts.SyntaxKind.QuestionQuestionToken;

/** The text of a literal fallback, or undefined when the fallback is not a literal. */
function literalText(e: ts.Expression): string | undefined {
  if (ts.isStringLiteralLike(e)) return e.text;
  if (ts.isTemplateExpression(e)) return e.head.text + e.templateSpans.map((s) => s.literal.text).join("");
  if (ts.isParenthesizedExpression(e)) return literalText(e.expression);
  return undefined;
}

const isDependency = (name: string | undefined, literal: string) =>
  (name !== undefined && DEPENDENCY_NAME.test(name)) || URL_LITERAL.test(literal);

function checkEnvDefault(sf: ts.SourceFile, node: ts.Node, found: Finding[]) {
  const out = {
    push: (f: Finding) => {
      if (!allowed(sf, node, "env-default")) found.push(f);
    },
  };
  if (ts.isBinaryExpression(node) && isFallbackOperator(node.operatorToken.kind)) {
    const literal = literalText(node.right);
    const names = envNamesInChain(node.left);
    if (literal !== undefined && names.length > 0 && names.some((n) => isDependency(n, literal))) {
      out.push(
        finding(
          sf,
          node,
          "env-default",
          `literal fallback for ${names.join(", ")}: a required dependency has no default`,
        ),
      );
    }
  }
  // const { SUPABASE_URL = "http://…" } = process.env
  if (ts.isVariableDeclaration(node) && node.initializer && ts.isObjectBindingPattern(node.name)) {
    const init = node.initializer;
    const fromEnv = isProcessEnv(init) || (ts.isIdentifier(init) && /^(env|environment)$/i.test(init.text));
    if (fromEnv) {
      for (const el of node.name.elements) {
        const literal = el.initializer ? literalText(el.initializer) : undefined;
        const name = (el.propertyName ?? el.name).getText(sf);
        if (literal !== undefined && isDependency(name, literal)) {
          out.push(
            finding(
              sf,
              el,
              "env-default",
              `literal default for ${name}: a required dependency has no default`,
            ),
          );
        }
      }
    }
  }
  // zod: SUPABASE_URL: z.string().default("http://…")
  if (
    ts.isCallExpression(node) &&
    ts.isPropertyAccessExpression(node.expression) &&
    node.expression.name.text === "default" &&
    node.arguments.length === 1
  ) {
    const literal = literalText(node.arguments[0] as ts.Expression);
    let key: string | undefined;
    for (let p: ts.Node | undefined = node.parent; p; p = p.parent) {
      if (ts.isPropertyAssignment(p)) {
        key = p.name.getText(sf);
        break;
      }
      if (!ts.isCallExpression(p) && !ts.isPropertyAccessExpression(p)) break;
    }
    if (literal !== undefined && isDependency(key, literal)) {
      out.push(
        finding(
          sf,
          node,
          "env-default",
          `schema default for ${key ?? "a URL"}: a required dependency has no default`,
        ),
      );
    }
  }
}

// ── unbounded-collection ────────────────────────────────────────────────────────────────────────

/**
 * The collection an initializer holds: the value itself, or one nested in an object or array literal.
 * Not one consumed on the spot (`[...new Set(xs)]`, `Array.from(new Set(xs))`) nor one built inside a
 * function (a function's locals live for one call).
 */
function newCollection(e: ts.Expression | undefined): ts.NewExpression | undefined {
  if (!e) return undefined;
  if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) {
    return newCollection(e.expression);
  }
  if (ts.isNewExpression(e) && ts.isIdentifier(e.expression) && COLLECTIONS.has(e.expression.text)) return e;
  if (ts.isObjectLiteralExpression(e)) {
    for (const p of e.properties) {
      const c = ts.isPropertyAssignment(p) ? newCollection(p.initializer) : undefined;
      if (c) return c;
    }
  }
  if (ts.isArrayLiteralExpression(e)) {
    for (const el of e.elements) {
      const c = ts.isSpreadElement(el) ? undefined : newCollection(el);
      if (c) return c;
    }
  }
  return undefined;
}

function comments(sf: ts.SourceFile, node: ts.Node): string {
  const text = sf.text;
  const leading = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  const trailing = ts.getTrailingCommentRanges(text, node.getEnd()) ?? [];
  // a trailing comment on the same line, after a `;`
  const lineEnd = text.indexOf("\n", node.getEnd());
  const rest = text.slice(node.getEnd(), lineEnd < 0 ? undefined : lineEnd);
  const sameLine = /\/\/(.*)$/.exec(rest)?.[1] ?? "";
  return [...leading, ...trailing].map((r) => text.slice(r.pos, r.end)).join("\n") + sameLine;
}

const declares = (comment: string) => DECLARES_KIND.test(comment) && STATES_BOUND.test(comment);

function checkCollections(sf: ts.SourceFile, out: Finding[]) {
  const report = (node: ts.Node, what: string) => {
    if (!allowed(sf, node, "unbounded-collection")) {
      out.push(
        finding(
          sf,
          node,
          "unbounded-collection",
          `${what} without a comment declaring it a bounded local optimization or per-instance state, with its bound`,
        ),
      );
    }
  };
  for (const stmt of sf.statements) {
    if (ts.isVariableStatement(stmt)) {
      for (const d of stmt.declarationList.declarations) {
        const c = newCollection(d.initializer);
        if (c && !declares(comments(sf, stmt))) report(c, `module-level ${c.expression.getText(sf)}`);
      }
    }
    const cls = ts.isClassDeclaration(stmt) ? stmt : undefined;
    if (!cls) continue;
    const classDoc = comments(sf, cls);
    const fieldDoc = (name: string) => {
      const member = cls.members.find((m) => m.name?.getText(sf) === name);
      return member ? comments(sf, member) : "";
    };
    for (const m of cls.members) {
      if (ts.isPropertyDeclaration(m)) {
        const c = newCollection(m.initializer);
        if (c && !declares(comments(sf, m)) && !declares(classDoc)) {
          report(c, `field ${m.name.getText(sf)} = new ${c.expression.getText(sf)}`);
        }
      }
      // this.x = new Map() in the constructor: the comment is on the field's declaration
      if (ts.isConstructorDeclaration(m) && m.body) {
        for (const s of m.body.statements) {
          if (!ts.isExpressionStatement(s) || !ts.isBinaryExpression(s.expression)) continue;
          const { left, right } = s.expression;
          const c = newCollection(right);
          if (
            !c ||
            !ts.isPropertyAccessExpression(left) ||
            left.expression.kind !== ts.SyntaxKind.ThisKeyword
          )
            continue;
          if (!declares(fieldDoc(left.name.text)) && !declares(comments(sf, s)) && !declares(classDoc)) {
            report(c, `field ${left.name.text} = new ${c.expression.getText(sf)}`);
          }
        }
      }
    }
  }
}

// ── catch-literal ───────────────────────────────────────────────────────────────────────────────

/** A value written out in the source: literals, and arrays and objects made only of literals or constants. */
function isLiteralData(e: ts.Expression): boolean {
  const x =
    ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e) ? e.expression : e;
  if (ts.isStringLiteralLike(x) || ts.isNumericLiteral(x) || ts.isBigIntLiteral(x)) return true;
  if ([ts.SyntaxKind.TrueKeyword, ts.SyntaxKind.FalseKeyword, ts.SyntaxKind.NullKeyword].includes(x.kind))
    return true;
  if (ts.isPrefixUnaryExpression(x)) return ts.isNumericLiteral(x.operand);
  if (ts.isArrayLiteralExpression(x)) return x.elements.every((el) => isLiteralData(el));
  if (ts.isObjectLiteralExpression(x)) {
    return x.properties.every((p) => ts.isPropertyAssignment(p) && isLiteralData(p.initializer));
  }
  return constantTable(x) !== undefined;
}

/** `DEFAULT_PRICING`, `DEFAULT_PRICING[model]`, `DEFAULT_PRICING.gpt4`: the constant's name. */
function constantTable(x: ts.Expression): string | undefined {
  if (ts.isIdentifier(x)) return CONSTANT_TABLE.test(x.text) ? x.text : undefined;
  if (ts.isElementAccessExpression(x) || ts.isPropertyAccessExpression(x)) return constantTable(x.expression);
  return undefined;
}

function standsInForData(e: ts.Expression | undefined): string | undefined {
  if (!e) return undefined;
  const x =
    ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e) ? e.expression : e;
  if (ts.isObjectLiteralExpression(x)) {
    const names = x.properties.map((p) =>
      p.name ? p.name.getText(x.getSourceFile()).replace(/["']/g, "") : "",
    );
    // a degradation value says what failed: allowed, whatever else it carries
    if (names.some((n) => DEGRADATION_FIELDS.has(n))) return undefined;
    return isLiteralData(x) ? "an object literal" : undefined;
  }
  if (ts.isArrayLiteralExpression(x)) return isLiteralData(x) ? "an array literal" : undefined;
  const table = constantTable(x);
  return table ? `the constant ${table}` : undefined;
}

/** Return statements of a block, not of the functions nested in it. */
function returnsOf(node: ts.Node, out: ts.ReturnStatement[] = []): ts.ReturnStatement[] {
  ts.forEachChild(node, (c) => {
    if (ts.isFunctionLike(c) || ts.isClassLike(c)) return;
    if (ts.isReturnStatement(c)) out.push(c);
    returnsOf(c, out);
  });
  return out;
}

function handlerReturns(fn: ts.Expression): (ts.Expression | undefined)[] {
  if (!ts.isArrowFunction(fn) && !ts.isFunctionExpression(fn)) return [];
  if (ts.isArrowFunction(fn) && !ts.isBlock(fn.body)) return [fn.body];
  return returnsOf(fn.body).map((r) => r.expression);
}

function checkCatchLiteral(sf: ts.SourceFile, node: ts.Node, out: Finding[]) {
  const report = (at: ts.Node, what: string) => {
    if (!allowed(sf, at, "catch-literal")) {
      out.push(
        finding(
          sf,
          at,
          "catch-literal",
          `a failure returns ${what} standing in for data: throw, or return a value that says it failed`,
        ),
      );
    }
  };
  if (ts.isCatchClause(node)) {
    for (const r of returnsOf(node.block)) {
      const what = standsInForData(r.expression);
      if (what) report(r, what);
    }
  }
  // promise.catch(() => …) and promise.then(ok, () => …)
  if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
    const method = node.expression.name.text;
    const handler =
      method === "catch" ? node.arguments[0] : method === "then" ? node.arguments[1] : undefined;
    if (handler) {
      for (const e of handlerReturns(handler)) {
        const what = standsInForData(e);
        if (what && e) report(e, what);
      }
    }
  }
}

// ── running ─────────────────────────────────────────────────────────────────────────────────────

export function checkSource(fileName: string, text: string, options: CheckOptions): Finding[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Finding[] = [];
  const visit = (node: ts.Node) => {
    if (options.rules.includes("env-default")) checkEnvDefault(sf, node, out);
    if (options.rules.includes("catch-literal")) checkCatchLiteral(sf, node, out);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (options.rules.includes("unbounded-collection")) checkCollections(sf, out);
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** The rules for a path relative to the repository root; none outside the guarded trees. */
export function rulesFor(relPath: string): RuleId[] {
  const p = relPath.split(sep).join("/");
  if (!p.endsWith(".ts") || p.endsWith(".d.ts") || /\.test\.ts$/.test(p) || /(^|\/)__tests__\//.test(p))
    return [];
  if (/^packages\/[^/]+\/src\//.test(p)) return ["env-default", "unbounded-collection", "catch-literal"];
  if (/^(infra|stacks)\//.test(p)) return ["env-default", "catch-literal"];
  return [];
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else out.push(path);
  }
  return out;
}

/** Every guarded file of the repository, checked. */
export function checkRepository(root: string): { files: number; findings: Finding[] } {
  const roots = ["packages", "infra", "stacks"].map((d) => join(root, d));
  let files = 0;
  const findings: Finding[] = [];
  for (const file of roots.flatMap((r) => walk(r))) {
    const rel = relative(root, file);
    const rules = rulesFor(rel);
    if (rules.length === 0) continue;
    files++;
    findings.push(...checkSource(rel, readFileSync(file, "utf8"), { rules }));
  }
  return { files, findings };
}

export function formatFinding(f: Finding): string {
  return `${f.file}:${f.line}:${f.column} ${f.rule}: ${f.message}\n    ${f.text}`;
}
