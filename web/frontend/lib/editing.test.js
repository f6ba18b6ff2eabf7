import assert from "node:assert/strict";
import { test } from "node:test";

import { History, putFile, serial } from "./editing.js";

test("undo goes back change by change, redo forward, a new change drops what was undone", () => {
  const history = new History();
  history.push("a");
  history.push("b");
  assert.equal(history.undo("c"), "b");
  assert.equal(history.undo("b"), "a");
  assert.equal(history.undo("a"), undefined);
  assert.equal(history.redo("a"), "b");
  assert.ok(history.canRedo());
  history.push("b");
  assert.ok(!history.canRedo());
  assert.equal(history.redo("x"), undefined);
  history.clear();
  assert.ok(!history.canUndo() && !history.canRedo());
});

const answer = (status, body) => async (url, options) => {
  answer.last = { url, options };
  return { ok: status < 300, status, json: async () => body };
};

test("a save sends the text with the revision read and gets the new revision and findings", async () => {
  const fetcher = answer(200, { revision: 8, problems: [{ file: "grade.dmn", reason: "x" }] });
  const got = await putFile("/api/v1/procedures/drafts/3/files/grade.dmn", "<xml/>", 7, "tok", fetcher);
  assert.deepEqual(got, { ok: true, revision: 8, problems: [{ file: "grade.dmn", reason: "x" }] });
  assert.equal(answer.last.options.method, "PUT");
  assert.equal(answer.last.options.headers["If-Match"], "7");
  assert.equal(answer.last.options.headers["X-CSRF-Token"], "tok");
  assert.equal(answer.last.options.body, "<xml/>");
});

test("a stale save says who saved in between", async () => {
  const got = await putFile("/x", "t", 7, "tok", answer(409, { error: "stale_draft", message: "m", saved_by: "lead",
    saved_at: "2026-11-30T09:00:00" }));
  assert.deepEqual(got, { ok: false, stale: true, savedBy: "lead", savedAt: "2026-11-30T09:00:00", message: "m" });
});

test("a refused save or a broken network is said, never thrown", async () => {
  assert.deepEqual(await putFile("/x", "t", 1, "tok", answer(400, { message: "bad" })),
    { ok: false, message: "bad", errors: [] });
  const down = async () => { throw new Error("offline"); };
  assert.match((await putFile("/x", "t", 1, "tok", down)).message, /offline/);
});

test("calls made while one runs run one after another, never two at once", async () => {
  const log = [];
  let running = 0;
  const save = serial(async (n) => {
    running += 1;
    log.push(`start ${n} (${running} running)`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    running -= 1;
    log.push(`end ${n}`);
  });
  const first = save(1);
  await new Promise((resolve) => setTimeout(resolve, 1)); // two more while the first is under way
  await Promise.all([first, save(2), save(3)]);
  assert.deepEqual(log, ["start 1 (1 running)", "end 1", "start 2 (1 running)", "end 2", "start 3 (1 running)", "end 3"]);
});
