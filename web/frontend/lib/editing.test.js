import assert from "node:assert/strict";
import { test } from "node:test";

import { changedSettings, History, putFile, serial, SETTINGS_COMMAND, settingsHandler } from "./editing.js";

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

test("the modeler's bundle.yaml settings are undone and redone on diagram-js's own command stack", async () => {
  const { default: CommandStack } = await import("diagram-js/lib/command/CommandStack.js");
  const { default: EventBus } = await import("diagram-js/lib/core/EventBus.js");
  const stack = new CommandStack(new EventBus(), { instantiate: (Handler) => new Handler() });
  let settings = { laneBodies: { Lane_1: "assessed" }, deadlines: {}, reminders: { before_days: [7, 1] } };
  const target = { get: () => settings, set: (next) => { settings = next; } };
  stack.register(SETTINGS_COMMAND, settingsHandler(target));
  const dueDates = [];
  stack.register("due", { execute: (c) => { dueDates.push(c.value); return []; }, revert: () => { dueDates.pop(); return []; } });

  const due = { date: "01-20", year: 1 };
  stack.execute(SETTINGS_COMMAND, { after: changedSettings(settings, (s) => { s.deadlines.Task_review = due; }),
    also: () => stack.execute("due", { value: "fixed_deadline(...)" }) });
  assert.deepEqual(settings.deadlines, { Task_review: due });
  assert.deepEqual(dueDates, ["fixed_deadline(...)"]);
  stack.execute(SETTINGS_COMMAND, { after: changedSettings(settings, (s) => { s.reminders.before_days = [3]; }) });

  stack.undo(); // the reminders
  assert.deepEqual(settings.reminders.before_days, [7, 1]);
  assert.deepEqual(settings.deadlines, { Task_review: due });
  stack.undo(); // the deadline and the task's dueDate together: one step
  assert.deepEqual(settings.deadlines, {});
  assert.deepEqual(dueDates, []);
  assert.equal(stack.canUndo(), false);
  stack.redo();
  assert.deepEqual(settings.deadlines, { Task_review: due });
  assert.deepEqual(dueDates, ["fixed_deadline(...)"]);
  stack.redo();
  assert.deepEqual(settings.reminders.before_days, [3]);
  assert.deepEqual(settings.laneBodies, { Lane_1: "assessed" });
});
