// Rules the gate cannot check because they need types: on Espruino 2v29,
// Uint8Array.prototype.slice (and friends on typed arrays) return a plain Array, so device
// code must copy with `new Uint8Array(x.subarray(a, b))`. Checked with the TypeScript
// checker over the device program (tsconfig.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import ts from "typescript";
import { fileURLToPath } from "node:url";

const TYPED = /^(Uint8|Int8|Uint16|Int16|Uint32|Int32|Float32|Float64|Uint8Clamped)Array$/;

test("device code never calls .slice() on a typed array", () => {
  const configPath = fileURLToPath(new URL("../../tsconfig.json", import.meta.url));
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
  const program = ts.createProgram(config.fileNames, config.options);
  const checker = program.getTypeChecker();
  const found: string[] = [];
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === "slice") {
        const t = checker.getTypeAtLocation(node.expression.expression);
        const name = t.getSymbol()?.getName() ?? "";
        if (TYPED.test(name)) {
          const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
          found.push(`${sf.fileName.replace(/.*\/src\//, "src/")}:${line + 1}: ${node.getText(sf)}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  assert.ok(config.fileNames.length > 20, "the device program was found");
  assert.deepEqual(found, [], "typed-array .slice() returns a plain Array on Espruino:\n" + found.join("\n"));
});
