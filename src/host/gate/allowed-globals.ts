// Globals gate: every free name must be an Espruino global, and every static member read from
// one (Math.imul, Array.from, Array.prototype.slice ...) must exist on Espruino. The data is
// espruino-globals.json; this file only applies it.
import type { AnyNode } from "./ast";
import { espruinoGlobals, type EspruinoGlobal, type EspruinoGlobals } from "./espruino-globals";
import { issueAt, type GateIssue } from "./issues";
import type { MemberAccess, ScopeAnalysis } from "./scopes";

const ALLOW_LIST = "src/host/gate/espruino-globals.json";

/** The static name of `object.name` / `object["name"]`, or null when it is computed at run time. */
function staticMemberName(member: AnyNode): string | null {
  if (!member.computed) return member.property.name;
  const property = member.property;
  return property.type === "Literal" && typeof property.value === "string" ? property.value : null;
}

function checkPrototypeAccess(access: MemberAccess, globalName: string, entry: EspruinoGlobal): GateIssue | null {
  if (!entry.prototype) {
    return issueAt(
      "builtin-prototype",
      `"${globalName}.prototype" is not usable on Espruino (${globalName}.prototype methods are undefined); ` +
        "call the method on an instance instead, e.g. [].slice.call(x) or \"\".charAt.call(s, i)",
      access.node,
    );
  }
  const parent = access.parent;
  if (parent?.type !== "MemberExpression" || parent.object !== access.node) return null;
  const name = staticMemberName(parent);
  if (name !== null && entry.prototype.includes(name)) return null;
  return issueAt(
    "unknown-member",
    name === null
      ? `${globalName}.prototype[...] is computed and cannot be checked against ${ALLOW_LIST}; use a static name`
      : `"${globalName}.prototype.${name}" is not available on Espruino 2v29 (not listed in ${ALLOW_LIST})`,
    parent,
  );
}

function checkMemberAccess(access: MemberAccess, globalName: string, entry: EspruinoGlobal): GateIssue | null {
  const name = staticMemberName(access.node);
  if (name === null) {
    return issueAt(
      "unknown-member",
      `${globalName}[...] is computed and cannot be checked against ${ALLOW_LIST}; use a static name`,
      access.node,
    );
  }
  if (name === "prototype") return checkPrototypeAccess(access, globalName, entry);
  if (entry.members?.includes(name)) return null;
  return issueAt(
    "unknown-member",
    `"${globalName}.${name}" is not available on Espruino 2v29 (not listed for ${globalName} in ${ALLOW_LIST})`,
    access.node,
  );
}

function checkRequire(call: AnyNode, modules: readonly string[]): GateIssue | null {
  const [name] = call.arguments as AnyNode[];
  if (name?.type === "Literal" && typeof name.value === "string") {
    if (modules.includes(name.value)) return null;
    return issueAt(
      "require-module",
      `require("${name.value}"): not an Espruino module the agent may load (allowed: ${modules.join(", ")})`,
      call,
    );
  }
  return issueAt("require-module", "require() needs a string literal naming an Espruino module", call);
}

export function checkGlobals(analysis: ScopeAnalysis, allowList: EspruinoGlobals = espruinoGlobals, scopeNames: readonly string[] = []): GateIssue[] {
  const known = new Map(Object.entries(allowList.globals));
  // names the code's own scope provides: a Storage module's `module` (whose exports it sets) and `exports`
  for (const name of scopeNames) if (!known.has(name)) known.set(name, { members: ["exports"], confirmed: "the module scope of require()" });
  const issues: GateIssue[] = [];
  for (const reference of analysis.references) {
    if (reference.declarations.length > 0 || known.has(reference.name)) continue;
    if (reference.isWrite) {
      issues.push(issueAt(
        "unknown-global",
        `"${reference.name}" is assigned without being declared (an implicit global); declare it with var`,
        reference.node,
      ));
    } else if (!reference.isTypeofOperand) {
      issues.push(issueAt(
        "unknown-global",
        `"${reference.name}" is not available on Espruino 2v29 (not a declared variable and not listed in ${ALLOW_LIST})`,
        reference.node,
      ));
    }
  }
  for (const access of analysis.memberAccesses) {
    const entry = access.object.declarations.length === 0 ? known.get(access.object.name) : undefined;
    const issue = entry ? checkMemberAccess(access, access.object.name, entry) : null;
    if (issue) issues.push(issue);
  }
  for (const call of analysis.identifierCalls) {
    const entry = call.callee.declarations.length === 0 ? known.get(call.callee.name) : undefined;
    const issue = entry?.modules ? checkRequire(call.node, entry.modules) : null;
    if (issue) issues.push(issue);
  }
  return issues;
}
