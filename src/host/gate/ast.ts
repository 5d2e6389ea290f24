// Generic ESTree traversal: works for any node type acorn produces (ES5 or ES2025), so
// the checks never miss a child because a walker table did not know the node type.
import type { Node } from "acorn";

/** Acorn nodes seen as plain records, for code that handles many node types by field name. */
export type AnyNode = Node & Record<string, any>;

const NON_CHILD_KEYS = new Set(["type", "start", "end", "loc", "range"]);

function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

/** Calls visit for each direct child node, in source order, with the field it sits in. */
export function forEachChild(node: AnyNode, visit: (child: AnyNode, key: string) => void): void {
  const children: Array<{ child: AnyNode; key: string }> = [];
  for (const key of Object.keys(node)) {
    if (NON_CHILD_KEYS.has(key)) continue;
    const value = node[key];
    if (Array.isArray(value)) {
      for (const item of value) if (isNode(item)) children.push({ child: item, key });
    } else if (isNode(value)) {
      children.push({ child: value, key });
    }
  }
  // Field order is not always source order (e.g. a for-in's left/right are fine, but be safe).
  children.sort((a, b) => a.child.start - b.child.start);
  for (const { child, key } of children) visit(child, key);
}

/**
 * Depth-first, parents before children, each node with its parent and the field it sits in.
 * Iterative: minified bundles can nest expressions thousands deep (long `a + b + ...` chains).
 */
export function walkAll(
  root: AnyNode,
  visit: (node: AnyNode, parent: AnyNode | null, key: string | null) => void,
): void {
  const stack: Array<{ node: AnyNode; parent: AnyNode | null; key: string | null }> = [
    { node: root, parent: null, key: null },
  ];
  while (stack.length > 0) {
    const { node, parent, key } = stack.pop()!;
    visit(node, parent, key);
    const children: Array<{ node: AnyNode; parent: AnyNode; key: string }> = [];
    forEachChild(node, (child, childKey) => children.push({ node: child, parent: node, key: childKey }));
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
}
