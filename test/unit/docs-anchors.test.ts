// Comments and docs cite facts as docs/<page>.md#<section>: every such citation must name a page
// that exists and a section heading (GitHub's anchor of it) or an explicit <a id> on that page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function anchorsOf(page: string): Set<string> {
  const text = readFileSync(page, "utf8").replace(/```[\s\S]*?```/g, "");
  const anchors = new Set<string>();
  for (const m of text.matchAll(/^#{1,6}\s+(.+)$/gm)) anchors.add(slug(m[1]));
  for (const m of text.matchAll(/<a id="([^"]+)"/g)) anchors.add(m[1]);
  return anchors;
}

test("slug follows GitHub's rule on the headings used here", () => {
  assert.equal(slug("E.nativeCall"), "enativecall");
  assert.equal(slug("Network: net, tls and http"), "network-net-tls-and-http");
  assert.equal(slug("report_version"), "report_version");
  assert.equal(slug("Appended SHA-256"), "appended-sha-256");
});

test("every docs/<page>.md#<anchor> cited in the repository exists", () => {
  const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: root, encoding: "utf8" })
    .split("\n").filter((f) => /\.(ts|js|json|md)$/.test(f) && existsSync(join(root, f)) && !f.startsWith("node_modules/") && f !== "test/unit/docs-anchors.test.ts");
  const missing: string[] = [];
  let citations = 0;
  const cache = new Map<string, Set<string> | null>();
  for (const file of files) {
    const text = readFileSync(join(root, file), "utf8");
    // docs/x.md#a, and within docs/ the relative form x.md#a; "#a and #b" after a page cites that page too
    for (const m of text.matchAll(/(?:docs\/|\]\()?([a-z0-9-]+)\.md#([\w-]+)((?:(?:,| and) #[\w-]+)*)/g)) {
      const inDocs = file.startsWith("docs/") || m[0].startsWith("docs/") || m[0].startsWith("](");
      if (!inDocs && !m[0].startsWith("docs/")) continue;
      const page = join(root, "docs", `${m[1]}.md`);
      if (!cache.has(page)) cache.set(page, existsSync(page) ? anchorsOf(page) : null);
      const anchors = cache.get(page);
      const cited = [m[2], ...[...m[3].matchAll(/#([\w-]+)/g)].map((x) => x[1])];
      for (const anchor of cited) {
        citations++;
        if (!anchors?.has(anchor)) missing.push(`${file}: docs/${m[1]}.md#${anchor}`);
      }
    }
  }
  assert.ok(citations > 40, `found ${citations} citations`);
  assert.deepEqual(missing, []);
});
