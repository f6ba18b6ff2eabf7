import assert from "node:assert/strict";
import { test } from "node:test";
import { lang, saveFile } from "./filesave.js";

const answer = (status, body) => async (url, init) => ({ ok: status < 300, status, json: async () => ({ ...body, url, init }) });

test("a save sends the text with the revision it was drawn at", async () => {
  const result = await saveFile("/f", "text", 7, answer(200, { revision: 8, problems: [] }), "tok");
  assert.equal(result.ok, true);
  assert.equal(result.body.revision, 8);
  assert.equal(result.body.init.headers["If-Match"], "7");
  assert.equal(result.body.init.headers["X-CSRF-Token"], "tok");
  assert.equal(result.body.init.body, "text");
});

test("a 409 is a stale draft, with the server's words", async () => {
  const result = await saveFile("/f", "t", 1, answer(409, { message: "admin 于 10:00 保存" }), "");
  assert.equal(result.stale, true);
  assert.equal(result.ok, false);
  assert.match(result.body.message, /admin/);
});

test("the page's language", () => {
  assert.equal(lang({ documentElement: { lang: "en" } }), "en");
  assert.equal(lang({ documentElement: { lang: "zh-CN" } }), "zh");
});
