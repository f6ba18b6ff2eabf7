// What every plain editor of a draft file shares: undo within the page, and saving through the draft file API
// (PUT with If-Match: the revision read; 409 when somebody saved in between, naming them).

/** Undo and redo over snapshots (any value), the newest last; a new change clears what was undone. */
export class History {
  constructor(limit = 200) {
    this.done = [];
    this.undone = [];
    this.limit = limit;
  }

  /** Remember the state before a change. */
  push(before) {
    this.done.push(before);
    if (this.done.length > this.limit) this.done.shift();
    this.undone = [];
  }

  /** The state to go back to, given the current one (kept for redo); undefined when there is none. */
  undo(current) {
    if (!this.done.length) return undefined;
    this.undone.push(current);
    return this.done.pop();
  }

  redo(current) {
    if (!this.undone.length) return undefined;
    this.done.push(current);
    return this.undone.pop();
  }

  /** Forget every step: what they would restore no longer applies (the file was changed another way). */
  clear() {
    this.done = [];
    this.undone = [];
  }

  canUndo() { return this.done.length > 0; }

  canRedo() { return this.undone.length > 0; }
}

/**
 * PUT ``text`` to a draft file ``url`` as of ``revision``: {ok, revision, problems} | {ok: false, stale, savedBy,
 * savedAt, message} | {ok: false, message}. ``fetcher`` is for tests.
 */
export async function putFile(url, text, revision, csrf, fetcher = globalThis.fetch) {
  let response;
  try {
    response = await fetcher(url, {
      method: "PUT", body: text, credentials: "same-origin",
      headers: { "Content-Type": "text/plain; charset=utf-8", "If-Match": String(revision), "X-CSRF-Token": csrf },
    });
  } catch (error) {
    return { ok: false, message: `网络错误，未保存 (network error; nothing saved): ${error.message}` };
  }
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (response.ok) return { ok: true, revision: body.revision, problems: body.problems || [] };
  if (response.status === 409) {
    return { ok: false, stale: true, savedBy: body.saved_by ?? null, savedAt: body.saved_at ?? null,
      message: body.message || "" };
  }
  return { ok: false, message: body.message || `HTTP ${response.status}`, errors: body.errors || [] };
}

/** ``run`` made to run one call after another: each call starts once every earlier one has ended, however many
 * are made meanwhile (a save must start from the revision the save before it left). */
export function serial(run) {
  let last = Promise.resolve();
  return (...args) => {
    last = last.then(() => run(...args));
    return last;
  };
}

/** The bpmn-js command that changes the bundle.yaml settings a diagram edits (lanes' bodies, fixed deadlines,
 * reminders), so that they are on the modeler's undo stack with the diagram's own changes. */
export const SETTINGS_COMMAND = "kaohe.settings.set";

/**
 * A diagram-js command handler over ``target`` ({get(), set(settings)}): execute stores what was there and puts
 * ``context.after``; revert puts it back. ``context.also`` (a function) runs in postExecute, so that the commands
 * it executes (the task's dueDate beside its deadline) are undone together with the settings, as one step.
 * The elements in ``context.elements`` are marked changed, for the properties panel to show the new values.
 */
export function settingsHandler(target) {
  return {
    execute(context) {
      context.before = target.get();
      target.set(structuredClone(context.after));
      return context.elements ?? [];
    },
    postExecute(context) {
      context.also?.();
    },
    revert(context) {
      target.set(structuredClone(context.before));
      return context.elements ?? [];
    },
  };
}

/** ``settings`` changed by ``change`` (which mutates its argument), the original left as it was. */
export function changedSettings(settings, change) {
  const next = structuredClone(settings);
  change(next);
  return next;
}
