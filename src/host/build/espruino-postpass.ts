// Rewrites the minified bundle where terser's output is valid JavaScript that Espruino
// 2v29 mis-parses. Today that is one shape: a bare `return` directly before `}` (terser
// drops the semicolon), which throws "Unexpected end of Input" when reached at the end of
// a function. Done on the AST, so strings and regexes are never touched.
import { parse } from "acorn";
import { simple } from "acorn-walk";

export function espruinoPostPass(code: string): string {
  const ast = parse(code, { ecmaVersion: 5, sourceType: "script" });
  const at: number[] = [];
  simple(ast, {
    ReturnStatement(node) {
      const n = node as unknown as { argument: unknown; start: number; end: number };
      if (n.argument === null && n.end - n.start === 6) at.push(n.end);
    },
  });
  at.sort((a, b) => b - a);
  let out = code;
  for (const p of at) out = out.slice(0, p) + ";" + out.slice(p);
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
