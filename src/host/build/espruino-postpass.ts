// Rewrites the minified bundle for Espruino 2v29, on the AST (strings and regexes are never
// touched). Two rewrites:
//
// 1. Valid JavaScript that Espruino mis-parses: a bare `return` directly before `}` (terser
//    drops the semicolon) throws "Unexpected end of Input" when reached at the end of a function.
//
// 2. Named parameters that cost memory for as long as the function exists: Espruino keeps each
//    parameter name as a JsVar child of the function object, one per parameter, whether or not
//    the function is running (docs/espruino-runtime.md#memory-cost-of-a-function). `function f(a,b){…}` becomes
//    `function f(){var a=arguments[0],b=arguments[1];arguments=0;…}`: the names then exist only while a call
//    runs. Measured on the ESP32 format: 3 parameters cost 3 JsVars per function at rest, and
//    0 this way; while a call runs they cost 5 more than named ones (the arguments array is
//    dropped right after it is read). Only functions that define no function inside them: Espruino stores the
//    `arguments` array in the calling function's scope, so a closure kept alive would keep the
//    array too, and a closure's own `arguments` would find its parent's there first (measured:
//    `(function(a){return function(b){return b}})` rewritten this way returns a, not b).
//    Functions marked "ram" (hot loops, copied into RAM and called per block) keep their
//    parameters: there the per-call `arguments` array would cost time.
import { parse } from "acorn";
import { full, simple } from "acorn-walk";

interface Node {
  type: string;
  start: number;
  end: number;
  [k: string]: unknown;
}

interface Edit {
  at: number;
  remove: number;
  insert: string;
}

function directiveEnd(body: Node): number | null {
  // The directive prologue: leading string-literal expression statements ("ram", "use strict").
  let end = (body.start as number) + 1;
  for (const st of body.body as Node[]) {
    const e = st.expression as Node | undefined;
    if (st.type !== "ExpressionStatement" || !e || e.type !== "Literal" || typeof e.value !== "string") break;
    if (e.value === "ram") return null;
    end = st.end;
  }
  return end;
}

/** True when `node` contains a function or reads `arguments` anywhere. */
function holdsFunctionOrArguments(node: Node): boolean {
  let found = false;
  full(node as never, (raw) => {
    const n = raw as unknown as Node;
    if (/Function/.test(n.type) || (n.type === "Identifier" && n.name === "arguments")) found = true;
  });
  return found;
}

function parameterEdits(ast: Node): Edit[] {
  const edits: Edit[] = [];
  full(ast as never, (raw) => {
    const fn = raw as unknown as Node;
    if (fn.type !== "FunctionDeclaration" && fn.type !== "FunctionExpression") return;
    const params = fn.params as Node[];
    if (params.length === 0) return;
    const at = directiveEnd(fn.body as Node);
    if (at === null || holdsFunctionOrArguments(fn.body as Node)) return;
    const names = params.map((p) => p.name as string);
    edits.push({ at: params[0].start, remove: params[params.length - 1].end - params[0].start, insert: "" });
    // `arguments=0` lets the array go at once: while the call runs it would hold a copy of every
    // argument (measured: 3 parameters cost 16 JsVars during a call kept, 12 cleared, 7 named).
    edits.push({ at, remove: 0, insert: "var " + names.map((n, i) => n + "=arguments[" + i + "]").join(",") + ";arguments=0;" });
  });
  return edits;
}

export function espruinoPostPass(code: string): string {
  const ast = parse(code, { ecmaVersion: 5, sourceType: "script" }) as unknown as Node;
  const edits: Edit[] = [];
  simple(ast as never, {
    ReturnStatement(node) {
      const n = node as unknown as { argument: unknown; start: number; end: number };
      if (n.argument === null && n.end - n.start === 6) edits.push({ at: n.end, remove: 0, insert: ";" });
    },
  });
  edits.push(...parameterEdits(ast));
  // Back to front, so earlier offsets stay valid; no two edits overlap.
  edits.sort((a, b) => b.at - a.at);
  let out = code;
  for (const e of edits) out = out.slice(0, e.at) + e.insert + out.slice(e.at + e.remove);
  return out;
}

/** The Rollup plugin: runs after terser (plugins run in order). */
export function espruinoPostPassPlugin() {
  return {
    name: "espruino-postpass",
    renderChunk(code: string) {
      return { code: espruinoPostPass(code), map: null };
    },
  };
}
