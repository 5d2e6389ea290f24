// Which regex features Espruino 2v29 lacks (docs/espruino-runtime.md#language, re-checked on the
// Linux build): {n} quantifiers, lookaround, (?:...), \b and named groups quietly never match;
// backreferences throw. (Flags beyond g, i, m are not ES5: the syntax gate reports those.)

const COUNTED_QUANTIFIER = /^\{\d+(,\d*)?\}/;

function groupProblem(afterParen: string): string | null {
  if (afterParen.startsWith("?=") || afterParen.startsWith("?!")) return "lookahead (?=...)";
  if (afterParen.startsWith("?<=") || afterParen.startsWith("?<!")) return "lookbehind (?<=...)";
  if (afterParen.startsWith("?<")) return "named group (?<name>...)";
  if (afterParen.startsWith("?:")) return "non-capturing group (?:...)";
  return null;
}

/** The unsupported features a pattern uses, each named once, in order of appearance. */
export function regexProblems(pattern: string): string[] {
  const problems: string[] = [];
  const add = (problem: string): void => {
    if (!problems.includes(problem)) problems.push(problem);
  };
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      const escaped = pattern[i + 1] ?? "";
      if (!inClass) {
        if (escaped >= "1" && escaped <= "9") add(`backreference (\\${escaped})`);
        else if (escaped === "k") add("named backreference (\\k<name>)");
        else if (escaped === "b" || escaped === "B") add(`word boundary (\\${escaped})`);
      }
      i++;
    } else if (inClass) {
      if (c === "]") inClass = false;
    } else if (c === "[") {
      inClass = true;
    } else if (c === "(") {
      const problem = groupProblem(pattern.slice(i + 1, i + 4));
      if (problem) add(problem);
    } else if (c === "{" && COUNTED_QUANTIFIER.test(pattern.slice(i))) {
      add("counted quantifier {n}");
    }
  }
  return problems;
}
