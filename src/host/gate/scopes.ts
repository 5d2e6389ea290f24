// Scope analysis of an ES5 program, shaped for Espruino's execution model: a binding exists
// only once the interpreter has executed its declaration, so every declaration keeps its
// position and the conditional blocks around it, and every function body keeps, in source
// order, what runs directly in it (references and calls) for the load-time simulation.
import type { Program } from "acorn";
import { forEachChild, type AnyNode } from "./ast";

export type ScopeKind = "program" | "function" | "catch";
export type DeclarationKind = "var" | "function" | "parameter" | "function-name" | "catch-parameter" | "arguments";

export interface Scope {
  index: number;
  kind: ScopeKind;
  node: AnyNode;
  parent: Scope | null;
  /** Nearest program/function scope (itself unless this is a catch scope): where var and function land. */
  functionScope: Scope;
  declarations: Map<string, Declaration[]>;
  /** Program/function scopes only: what runs directly in this body, in source order. */
  events: ScopeEvent[];
}

export interface Declaration {
  name: string;
  kind: DeclarationKind;
  scope: Scope;
  node: AnyNode | null;
  /** Source offset from which the binding exists; -1 when it exists as soon as the scope starts. */
  availableFrom: number;
  /** Blocks that may not run to this point (if/else branch, case, loop body, try, catch) around it, outermost first. */
  conditionalPath: readonly AnyNode[];
  /** The function that calling this name runs, when it is statically known. */
  callable: AnyNode | null;
}

export interface Reference {
  name: string;
  node: AnyNode;
  /** Innermost scope at the reference (may be a catch scope). */
  scope: Scope;
  conditionalPath: readonly AnyNode[];
  isTypeofOperand: boolean;
  isWrite: boolean;
  /** Declarations of the binding it resolves to (all in one scope); empty for a free (global) name. */
  declarations: Declaration[];
}

export interface CallEvent {
  type: "call";
  node: AnyNode;
  /** A function expression invoked right where it is written (IIFE, or a synchronous callback). */
  immediateFunction: AnyNode | null;
  /** A name whose declaration may say which function runs. */
  calleeReference: Reference | null;
  description: string;
}

export type ScopeEvent = { type: "reference"; use: Reference } | CallEvent;

export interface MemberAccess {
  object: Reference;
  node: AnyNode;
  /** The expression the access sits in (to see `X.prototype.y`). */
  parent: AnyNode | null;
}

export interface IdentifierCall {
  node: AnyNode;
  callee: Reference;
}

export interface ScopeAnalysis {
  program: Scope;
  scopes: Scope[];
  references: Reference[];
  memberAccesses: MemberAccess[];
  identifierCalls: IdentifierCall[];
  scopeOfFunction: Map<AnyNode, Scope>;
}

/** Array/string methods that run a function argument before they return (so at the call's moment). */
const SYNCHRONOUS_CALLBACK_METHODS = new Set([
  "forEach", "map", "filter", "some", "every", "reduce", "find", "findIndex", "sort", "replace", "replaceAll",
]);

interface Context {
  scope: Scope;
  conditionalPath: readonly AnyNode[];
}

interface PendingIifeReturn {
  declaration: Declaration;
  iife: AnyNode;
  returnedName: string;
}

/** `f(...)`, `(0, f)(...)`, `f.call(...)`, `f.apply(...)`: the expression naming what runs. */
function calledExpression(callee: AnyNode): AnyNode {
  if (callee.type === "SequenceExpression") return calledExpression(callee.expressions[callee.expressions.length - 1]);
  if (
    callee.type === "MemberExpression" && !callee.computed &&
    (callee.property.name === "call" || callee.property.name === "apply") &&
    (callee.object.type === "FunctionExpression" || callee.object.type === "Identifier")
  ) {
    return callee.object;
  }
  return callee;
}

/** `(function () { ...; return Name; })()` gives Name, the shape of TypeScript's ES5 classes. */
function iifeReturnedName(init: AnyNode | null): { iife: AnyNode; name: string } | null {
  if (!init || init.type !== "CallExpression") return null;
  const fn = calledExpression(init.callee);
  if (fn.type !== "FunctionExpression") return null;
  const body: AnyNode[] = fn.body.body;
  const last = body[body.length - 1];
  if (last?.type !== "ReturnStatement" || last.argument?.type !== "Identifier") return null;
  return { iife: fn, name: last.argument.name };
}

class ScopeBuilder {
  readonly scopes: Scope[] = [];
  readonly references: Reference[] = [];
  readonly memberAccesses: MemberAccess[] = [];
  readonly identifierCalls: IdentifierCall[] = [];
  readonly scopeOfFunction = new Map<AnyNode, Scope>();
  private readonly referenceOfNode = new Map<AnyNode, Reference>();
  private readonly pendingIifeReturns: PendingIifeReturn[] = [];

  newScope(kind: ScopeKind, node: AnyNode, parent: Scope | null): Scope {
    const scope = {
      index: this.scopes.length, kind, node, parent, declarations: new Map(), events: [],
    } as unknown as Scope;
    scope.functionScope = kind === "catch" && parent ? parent.functionScope : scope;
    this.scopes.push(scope);
    return scope;
  }

  declare(
    scope: Scope, name: string, kind: DeclarationKind, node: AnyNode | null,
    availableFrom: number, conditionalPath: readonly AnyNode[], callable: AnyNode | null,
  ): Declaration {
    const declaration: Declaration = { name, kind, scope, node, availableFrom, conditionalPath, callable };
    const list = scope.declarations.get(name);
    if (list) list.push(declaration);
    else scope.declarations.set(name, [declaration]);
    return declaration;
  }

  reference(node: AnyNode, ctx: Context, isTypeofOperand = false, isWrite = false): Reference {
    const use: Reference = {
      name: node.name, node, scope: ctx.scope, conditionalPath: ctx.conditionalPath,
      isTypeofOperand, isWrite, declarations: [],
    };
    this.references.push(use);
    this.referenceOfNode.set(node, use);
    ctx.scope.functionScope.events.push({ type: "reference", use });
    return use;
  }

  visitFunction(fn: AnyNode, ctx: Context): void {
    const scope = this.newScope("function", fn, ctx.scope);
    this.scopeOfFunction.set(fn, scope);
    if (fn.type === "FunctionExpression" && fn.id) {
      this.declare(scope, fn.id.name, "function-name", fn.id, -1, [], fn);
    }
    this.declare(scope, "arguments", "arguments", null, -1, [], null);
    for (const param of fn.params as AnyNode[]) this.declare(scope, param.name, "parameter", param, -1, [], null);
    this.visit(fn.body, { scope, conditionalPath: [] }, fn);
  }

  private conditional(node: AnyNode | null, ctx: Context, marker: AnyNode, parent: AnyNode): void {
    if (node) this.visit(node, { scope: ctx.scope, conditionalPath: [...ctx.conditionalPath, marker] }, parent);
  }

  private addCallEvent(node: AnyNode, target: AnyNode, ctx: Context, description: string | null): void {
    const events = ctx.scope.functionScope.events;
    if (target.type === "FunctionExpression") {
      events.push({
        type: "call", node, immediateFunction: target, calleeReference: null,
        description: description ?? "an immediately invoked function",
      });
    } else if (target.type === "Identifier") {
      const calleeReference = this.referenceOfNode.get(target) ?? null;
      const call = node.type === "NewExpression" ? `new ${target.name}()` : `${target.name}()`;
      events.push({ type: "call", node, immediateFunction: null, calleeReference, description: description ?? call });
    }
  }

  private visitCall(node: AnyNode, ctx: Context): void {
    this.visit(node.callee, ctx, node);
    for (const argument of node.arguments as AnyNode[]) this.visit(argument, ctx, node);
    const target = calledExpression(node.callee);
    this.addCallEvent(node, target, ctx, null);
    if (target.type === "Identifier") {
      const callee = this.referenceOfNode.get(target);
      if (callee) this.identifierCalls.push({ node, callee });
    }
    const callee: AnyNode = node.callee;
    const isSynchronousCallbackMethod = node.type === "CallExpression" && callee.type === "MemberExpression" &&
      !callee.computed && SYNCHRONOUS_CALLBACK_METHODS.has(callee.property.name);
    if (isSynchronousCallbackMethod) {
      for (const argument of node.arguments as AnyNode[]) {
        this.addCallEvent(node, argument, ctx, `the callback passed to .${callee.property.name}()`);
      }
    }
    const isPromiseExecutor = node.type === "NewExpression" && callee.type === "Identifier" && callee.name === "Promise";
    if (isPromiseExecutor && node.arguments[0]) {
      this.addCallEvent(node, node.arguments[0], ctx, "the executor passed to new Promise()");
    }
  }

  visit(node: AnyNode, ctx: Context, parent: AnyNode | null): void {
    switch (node.type) {
      case "FunctionDeclaration":
        this.declare(ctx.scope.functionScope, node.id.name, "function", node.id, node.start, ctx.conditionalPath, node);
        this.visitFunction(node, ctx);
        return;
      case "FunctionExpression":
        this.visitFunction(node, ctx);
        return;
      case "VariableDeclaration":
        for (const declarator of node.declarations as AnyNode[]) {
          const init: AnyNode | null = declarator.init;
          const callable = init?.type === "FunctionExpression" ? init : null;
          const declaration = this.declare(
            ctx.scope.functionScope, declarator.id.name, "var", declarator.id, declarator.id.start,
            ctx.conditionalPath, callable,
          );
          const returned = iifeReturnedName(init);
          if (returned) this.pendingIifeReturns.push({ declaration, iife: returned.iife, returnedName: returned.name });
          if (init) this.visit(init, ctx, declarator);
        }
        return;
      case "TryStatement":
        // An exception can cut the try block short anywhere, and the catch (or finally, or the
        // code after a swallowed exception) then runs without the rest of the block.
        this.conditional(node.block, ctx, node.block, node);
        if (node.handler) this.visit(node.handler, ctx, node);
        if (node.finalizer) this.visit(node.finalizer, ctx, node);
        return;
      case "CatchClause": {
        const scope = this.newScope("catch", node, ctx.scope);
        this.declare(scope, node.param.name, "catch-parameter", node.param, -1, [], null);
        this.visit(node.body, { scope, conditionalPath: [...ctx.conditionalPath, node] }, node);
        return;
      }
      case "IfStatement":
        this.visit(node.test, ctx, node);
        this.conditional(node.consequent, ctx, node.consequent, node);
        this.conditional(node.alternate, ctx, node.alternate ?? node, node);
        return;
      case "SwitchStatement":
        this.visit(node.discriminant, ctx, node);
        for (const switchCase of node.cases as AnyNode[]) {
          const inCase = { scope: ctx.scope, conditionalPath: [...ctx.conditionalPath, switchCase] };
          if (switchCase.test) this.visit(switchCase.test, inCase, switchCase);
          for (const statement of switchCase.consequent as AnyNode[]) this.visit(statement, inCase, switchCase);
        }
        return;
      case "WhileStatement":
        this.visit(node.test, ctx, node);
        this.conditional(node.body, ctx, node, node);
        return;
      case "ForStatement":
        if (node.init) this.visit(node.init, ctx, node);
        if (node.test) this.visit(node.test, ctx, node);
        this.conditional(node.body, ctx, node, node);
        this.conditional(node.update, ctx, node, node);
        return;
      case "ForInStatement":
        if (node.left.type === "Identifier") this.reference(node.left, ctx, false, true);
        else this.visit(node.left, ctx, node);
        this.visit(node.right, ctx, node);
        this.conditional(node.body, ctx, node, node);
        return;
      case "Identifier":
        this.reference(node, ctx);
        return;
      case "MemberExpression":
        if (node.object.type === "Identifier") {
          this.memberAccesses.push({ object: this.reference(node.object, ctx), node, parent });
        } else {
          this.visit(node.object, ctx, node);
        }
        if (node.computed) this.visit(node.property, ctx, node);
        return;
      case "Property":
        if (node.computed) this.visit(node.key, ctx, node);
        this.visit(node.value, ctx, node);
        return;
      case "UnaryExpression":
        if (node.operator === "typeof" && node.argument.type === "Identifier") this.reference(node.argument, ctx, true);
        else this.visit(node.argument, ctx, node);
        return;
      case "AssignmentExpression":
        if (node.left.type === "Identifier") this.reference(node.left, ctx, false, true);
        else this.visit(node.left, ctx, node);
        this.visit(node.right, ctx, node);
        return;
      case "UpdateExpression":
        if (node.argument.type === "Identifier") this.reference(node.argument, ctx, false, true);
        else this.visit(node.argument, ctx, node);
        return;
      case "CallExpression":
      case "NewExpression":
        this.visitCall(node, ctx);
        return;
      case "BinaryExpression":
      case "LogicalExpression": {
        // Walk the left spine in a loop: `a + b + c + ...` nests as deep as it is long.
        const rights: AnyNode[] = [];
        let left: AnyNode = node;
        while (left.type === "BinaryExpression" || left.type === "LogicalExpression") {
          rights.push(left.right);
          left = left.left;
        }
        this.visit(left, ctx, node);
        for (let i = rights.length - 1; i >= 0; i--) this.visit(rights[i], ctx, node);
        return;
      }
      case "LabeledStatement":
        this.visit(node.body, ctx, node);
        return;
      case "BreakStatement":
      case "ContinueStatement":
        return;
      default:
        forEachChild(node, (child) => this.visit(child, ctx, node));
    }
  }

  resolve(): void {
    for (const reference of this.references) {
      for (let scope: Scope | null = reference.scope; scope; scope = scope.parent) {
        const found = scope.declarations.get(reference.name);
        if (found) {
          reference.declarations = found;
          break;
        }
      }
    }
    for (const pending of this.pendingIifeReturns) {
      const iifeScope = this.scopeOfFunction.get(pending.iife);
      const returned = iifeScope?.declarations.get(pending.returnedName);
      if (returned?.length === 1 && returned[0].kind === "function") pending.declaration.callable = returned[0].callable;
    }
  }
}

export function analyzeScopes(program: Program): ScopeAnalysis {
  const builder = new ScopeBuilder();
  const root = program as AnyNode;
  const programScope = builder.newScope("program", root, null);
  for (const statement of root.body as AnyNode[]) builder.visit(statement, { scope: programScope, conditionalPath: [] }, root);
  builder.resolve();
  return {
    program: programScope,
    scopes: builder.scopes,
    references: builder.references,
    memberAccesses: builder.memberAccesses,
    identifierCalls: builder.identifierCalls,
    scopeOfFunction: builder.scopeOfFunction,
  };
}
