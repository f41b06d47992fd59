// mermaid-parse FILE...: parse every Mermaid diagram in each file with Mermaid's own parser
// (a Markdown file: each ```mermaid block; any other file: the whole text). Prints one line per
// diagram, "ok FILE#N TYPE" or "FAIL FILE#N: MESSAGE"; exits 1 when one fails or a file holds none.
// Mermaid needs a DOM only to be loaded, not to parse: jsdom provides it.
import fs from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let failed = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  const blocks = file.endsWith(".md")
    ? [...text.matchAll(/^```mermaid\n([\s\S]*?)^```$/gm)].map((m) => m[1])
    : [text];
  if (blocks.length === 0) {
    console.log(`FAIL ${file}: no Mermaid diagram`);
    failed++;
  }
  for (const [i, block] of blocks.entries()) {
    try {
      const result = await mermaid.parse(block);
      console.log(`ok ${file}#${i + 1} ${result.diagramType}`);
    } catch (e) {
      console.log(`FAIL ${file}#${i + 1}: ${String(e.message || e).split("\n").join(" | ")}`);
      failed++;
    }
  }
}
process.exit(failed ? 1 : 0);
