// The issue record every gate check produces, plus helpers to place it in the source.
import type { Node } from "acorn";

export interface GateIssue {
  rule: string;
  message: string;
  /** 1-based line. */
  line: number;
  /** 1-based column (editor convention, so "file:line:col" can be clicked). */
  column: number;
}

/** Needs nodes parsed with `locations: true`. */
export function issueAt(rule: string, message: string, node: Node): GateIssue {
  const start = node.loc?.start;
  if (!start) throw new Error("gate: parse with locations:true");
  return { rule, message, line: start.line, column: start.column + 1 };
}

export function formatLocation(node: Node): string {
  const start = node.loc?.start;
  return start ? `${start.line}:${start.column + 1}` : `@${node.start}`;
}

export function formatIssue(filename: string, issue: GateIssue): string {
  return `${filename}:${issue.line}:${issue.column} ${issue.rule}: ${issue.message}`;
}

/** Stable order (by position, then rule) and no duplicates: several passes may reach the same spot. */
export function sortAndDedupe(issues: GateIssue[]): GateIssue[] {
  const seen = new Set<string>();
  const unique: GateIssue[] = [];
  for (const issue of issues) {
    const key = `${issue.line}:${issue.column}:${issue.rule}:${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(issue);
  }
  return unique.sort((a, b) => a.line - b.line || a.column - b.column || a.rule.localeCompare(b.rule));
}
