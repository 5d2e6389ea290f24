// No-hoisting gate. Espruino creates a `var` or `function` binding only when the interpreter
// reaches its declaration, so (1) a body must not use a binding of its own scope before the
// declaration, nor outside the conditional block that declares it, and (2) a function called
// while its enclosing scopes are still running must not use their later bindings. (2) is found
// by replaying each body in source order, entering statically known callees (IIFEs, declared
// functions, synchronous callbacks) with the position each enclosing scope has reached.
import { formatLocation, issueAt, type GateIssue } from "./issues";
import type { Declaration, Reference, Scope, ScopeAnalysis } from "./scopes";

interface Progress {
  /** Source offset the scope's body has reached; Infinity once it has returned. */
  position: number;
  description: string;
  at: string;
}

const NOT_HOISTED = {
  function: "Espruino does not hoist function declarations",
  var: "Espruino does not hoist var declarations",
} as const;

function earliest(declarations: Declaration[]): Declaration {
  return declarations.reduce((best, d) => (d.availableFrom < best.availableFrom ? d : best));
}

/** Bindings that may be missing when used: var/function only (parameters etc. exist from the start). */
function lateBinding(use: Reference): Declaration | null {
  const declarations = use.declarations;
  if (declarations.length === 0 || declarations.some((d) => d.availableFrom < 0)) return null;
  return earliest(declarations);
}

function declarationPlace(declaration: Declaration): string {
  return declaration.node ? formatLocation(declaration.node) : "?";
}

function isPrefix(prefix: readonly unknown[], path: readonly unknown[]): boolean {
  return prefix.length <= path.length && prefix.every((item, i) => path[i] === item);
}

function checkDirectUses(analysis: ScopeAnalysis, issues: GateIssue[]): void {
  const undominated: Reference[] = [];
  for (const use of analysis.references) {
    const first = lateBinding(use);
    if (!first || first.scope !== use.scope.functionScope) continue; // a nested function's use runs later
    const position = use.node.start;
    const kind = first.kind === "function" ? "function" : "var";
    if (position < first.availableFrom) {
      issues.push(issueAt(
        "no-hoist",
        `"${use.name}" is used before its declaration at ${declarationPlace(first)} executes (${NOT_HOISTED[kind]})`,
        use.node,
      ));
      continue;
    }
    // Fine when some declaration already ran on every path here: one earlier in this block or in
    // a block around it. Earlier ones in sibling blocks (another branch, case, loop, try) may not have.
    const dominated = use.declarations.some(
      (d) => d.availableFrom <= position && isPrefix(d.conditionalPath, use.conditionalPath),
    );
    if (!dominated) undominated.push(use);
  }
  // After such an assignment the name is a global, so later reads on the same path do work;
  // they are this assignment's consequence, reported once at the assignment.
  const writes = undominated.filter((r) => r.isWrite);
  for (const use of undominated) {
    const followsFlaggedWrite = !use.isWrite && writes.some((w) =>
      w.declarations === use.declarations && w.node.start < use.node.start &&
      isPrefix(w.conditionalPath, use.conditionalPath));
    if (!followsFlaggedWrite) issues.push(undominatedUse(use, use.node.start));
  }
}

const MAYBE_SKIPPED = "(if/else branch, switch case, loop body, try block or catch)";

function undominatedUse(use: Reference, position: number): GateIssue {
  const earlier = use.declarations.filter((d) => d.availableFrom >= 0 && d.availableFrom <= position);
  const places = earlier.map(declarationPlace).join(", ");
  const where = earlier.length === 1
    ? `declared at ${places} inside a block that may not run ${MAYBE_SKIPPED}`
    : `declared at ${places}, each inside a block that may not run ${MAYBE_SKIPPED}`;
  const name = use.name;
  if (use.isWrite) {
    // Measured on Espruino 2v29: the assignment lands on a global of that name, replacing e.g. a
    // minified top-level function. terser's compress.unused rewrites a repeated `var` this way.
    return issueAt(
      "conditional-declaration",
      `"${name}" is assigned here but is only ${where}; ` +
        `Espruino then assigns a global "${name}" (overwriting any top-level binding of that name), so declare it ` +
        "in this block or before those blocks (a minifier that drops a repeated var, like terser's compress.unused, " +
        "produces this shape)",
      use.node,
    );
  }
  return issueAt(
    "conditional-declaration",
    `"${name}" is ${where} and used outside it; Espruino only creates it when that block runs ` +
      "(reading it otherwise throws ReferenceError), so declare it before the block",
    use.node,
  );
}

function functionAncestors(scope: Scope): Scope[] {
  const ancestors: Scope[] = [];
  for (let s = scope.parent; s; s = s.parent) if (s.kind !== "catch") ancestors.push(s);
  return ancestors;
}

function isInside(scope: Scope, root: Scope): boolean {
  for (let s = scope.parent; s; s = s.parent) if (s === root) return true;
  return false;
}

/** Replays `root` from its start, entering callees declared inside it (only they can see its bindings). */
function replay(root: Scope, analysis: ScopeAnalysis, issues: GateIssue[]): void {
  const entered = new Set<string>();
  const active = new Set<Scope>([root]);
  const when = root.kind === "program" ? "at load time during" : "during";

  const checkOuterUse = (use: Reference, activation: Scope, progress: Map<Scope, Progress>): void => {
    const first = lateBinding(use);
    if (!first || first.scope === activation) return; // own-scope uses are checkDirectUses' job
    const reached = progress.get(first.scope);
    if (!reached || reached.position === Infinity || first.availableFrom < reached.position) return;
    issues.push(issueAt(
      "no-hoist",
      `"${use.name}" is used before its declaration executes: this runs ${when} ${reached.description} ` +
        `at ${reached.at}, but "${use.name}" is only declared at ${declarationPlace(first)} (Espruino does not hoist)`,
      use.node,
    ));
  };

  const run = (activation: Scope, progress: Map<Scope, Progress>): void => {
    for (const event of activation.events) {
      if (event.type === "reference") {
        checkOuterUse(event.use, activation, progress);
        continue;
      }
      const callee = event.immediateFunction ?? calleeFunction(event.calleeReference);
      const calleeScope = callee ? analysis.scopeOfFunction.get(callee) : undefined;
      if (!calleeScope || active.has(calleeScope) || !isInside(calleeScope, root)) continue;
      const atCall = new Map<Scope, Progress>();
      const ancestors = functionAncestors(calleeScope);
      for (const ancestor of ancestors) {
        const reached = ancestor === activation
          ? { position: event.node.start, description: event.description, at: formatLocation(event.node) }
          : progress.get(ancestor);
        if (reached) atCall.set(ancestor, reached);
      }
      // The same callee reached with the same progress of its enclosing scopes gives the same result.
      const key = `${calleeScope.index}|${ancestors.map((a) => atCall.get(a)?.position ?? "-").join(",")}`;
      if (!entered.has(key)) {
        entered.add(key);
        active.add(calleeScope);
        run(calleeScope, atCall);
        active.delete(calleeScope);
      }
      if (event.immediateFunction) {
        // The function has returned: all of its body has run for whatever it left behind (closures).
        progress.set(calleeScope, { position: Infinity, description: "", at: "" });
      }
    }
  };

  run(root, new Map());
}

/** The function a call of this name runs, when its only declaration says so. */
function calleeFunction(use: Reference | null) {
  const declarations = use?.declarations ?? [];
  return declarations.length === 1 ? declarations[0].callable : null;
}

export function checkHoisting(analysis: ScopeAnalysis): GateIssue[] {
  const issues: GateIssue[] = [];
  checkDirectUses(analysis, issues);
  for (const scope of analysis.scopes) if (scope.kind !== "catch") replay(scope, analysis, issues);
  return issues;
}
