import assert from "node:assert/strict";
import { test } from "node:test";
import { translator } from "./translate.js";

test("zh translates the palette and fills placeholders; en keeps bpmn.io's text", () => {
  assert.equal(translator("zh")("Create task"), "新建任务");
  assert.equal(translator("zh")("Append {type}", { type: "x" }), "Append x");
  assert.equal(translator("en")("Create task"), "Create task");
  assert.equal(translator("zh")("Unknown {a}"), "Unknown {a}");
});

test("every palette and context pad text of the pinned bpmn-js has its Chinese", async () => {
  const { readFileSync } = await import("node:fs");
  const zh = (await import("./zh.js")).default;
  const missing = [];
  for (const file of ["bpmn-js/lib/features/palette/PaletteProvider.js",
    "bpmn-js/lib/features/context-pad/ContextPadProvider.js"]) {
    const source = readFileSync(new URL(`../../../node_modules/${file}`, import.meta.url), "utf8");
    for (const [, text] of source.matchAll(/translate\(\s*'([^']+)'/g)) {
      if (!(text in zh)) missing.push(text);
    }
  }
  assert.deepEqual([...new Set(missing)], []);
});
