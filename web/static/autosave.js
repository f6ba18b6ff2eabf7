// Nothing typed into a task's form is lost (issue 12, item 3).
//  - What is typed is kept in this browser as it is typed, and saved to the server as a draft a few seconds
//    after the typing stops; the page says when it was last saved.
//  - Before the session would end for inactivity a warning offers to stay signed in (which saves the draft); left
//    alone, the session ends as it must, and what was typed stays in this browser.
//  - If the session has ended anyway (the submit went to the sign-in page), the page of the task, opened again
//    after signing in, puts back what was typed and says so.
//  - A successful submission, and signing out, forget the browser's copy.
(function () {
  "use strict";
  var PREFIX = "kaohe-draft:";
  var store = (function () { try { return window.localStorage; } catch (e) { return null; } })();
  var meta = function (name) { var m = document.querySelector('meta[name="' + name + '"]'); return m && m.content; };

  // After a submission or on the sign-out page: forget the copies this browser keeps.
  var done = meta("kaohe-submitted");
  if (store && done) { store.removeItem(PREFIX + done); }
  if (store && meta("kaohe-signed-out")) {
    Object.keys(store).filter(function (k) { return k.indexOf(PREFIX) === 0; }).forEach(function (k) { store.removeItem(k); });
  }

  var form = document.getElementById("task-form");
  if (!form || !form.dataset.draftKey) { return; }
  var key = PREFIX + form.dataset.draftKey;
  var status = document.getElementById("autosave-status");
  var warning = document.getElementById("idle-warning");
  var idleMs = (parseInt(form.dataset.idleSeconds, 10) || 1800) * 1000;
  var lastContact = Date.now();
  var say = function (text) { if (status) { status.textContent = text; } };
  var words = function (name) { return form.dataset[name] || ""; };
  var time = function (d) { return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2); };

  function fields() {
    var out = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf_token" || el.name === "action" || el.type === "file" || el.disabled) { return; }
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) { return; }
      if (el.tagName === "SELECT" && el.multiple) {
        Array.prototype.forEach.call(el.selectedOptions, function (o) { out.push([el.name, o.value]); });
        return;
      }
      out.push([el.name, el.value]);
    });
    return out;
  }

  function keep() {
    if (!store) { return; }
    try { store.setItem(key, JSON.stringify({ at: Date.now(), fields: fields() })); } catch (e) { /* full: the server copy remains */ }
  }

  function restore(saved) {
    var byName = {};
    saved.fields.forEach(function (pair) { (byName[pair[0]] = byName[pair[0]] || []).push(pair[1]); });
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || !(el.name in byName) || el.type === "file" || el.name === "csrf_token") { return; }
      var values = byName[el.name];
      if (el.type === "checkbox" || el.type === "radio") { el.checked = values.indexOf(el.value) >= 0; }
      else if (el.tagName === "SELECT" && el.multiple) {
        Array.prototype.forEach.call(el.options, function (o) { o.selected = values.indexOf(o.value) >= 0; });
      } else { el.value = values.shift(); }
    });
  }

  // Put back what was typed here and not saved on the server (a time-out, a closed tab, a lost connection).
  if (store) {
    var saved = null;
    try { saved = JSON.parse(store.getItem(key) || "null"); } catch (e) { saved = null; }
    var serverAt = Date.parse(form.dataset.serverDraftAt || "") || 0;
    if (saved && saved.at > serverAt && JSON.stringify(saved.fields) !== JSON.stringify(fields())) {
      restore(saved);
      var note = document.getElementById("restored");
      if (note) { note.hidden = false; note.textContent = words("restored").replace("%s", time(new Date(saved.at))); }
    }
  }

  var pending = null;
  function save(reason) {
    pending = null;
    var body = new FormData(form);
    body.set("action", "save");
    body.delete("evidence_upload");
    // form.getAttribute("action"), not form.action: the form's buttons are named "action" and shadow it.
    return fetch(form.getAttribute("action"), { method: "POST", body: body, credentials: "same-origin", redirect: "manual",
                                headers: { "X-Kaohe-Autosave": "1", "Accept": "application/json" } })
      .then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401 || r.status === 302) { throw new Error("signed-out"); }
        return r.json().then(function (j) { if (!r.ok) { throw new Error(j.message || r.status); } return j; });
      })
      .then(function () { lastContact = Date.now(); say(words("saved").replace("%s", time(new Date()))); hideWarning(); })
      .catch(function (e) {
        say(e.message === "signed-out" ? words("signedOut") : words("notSaved") + " " + e.message);
      });
  }

  form.addEventListener("input", function () {
    keep();
    say(words("typing"));
    if (pending) { clearTimeout(pending); }
    pending = setTimeout(save, 3000);
  });
  form.addEventListener("change", keep);
  form.addEventListener("submit", keep);

  function hideWarning() { if (warning) { warning.hidden = true; } }
  if (warning) {
    var stay = warning.querySelector("button");
    if (stay) { stay.addEventListener("click", function () { save("stay"); }); }
    var check = function () {
      var left = lastContact + idleMs - Date.now();
      if (left <= 0) { warning.hidden = false; warning.querySelector("span").textContent = words("signedOut"); return; }
      if (left <= 120000) {
        // Kept in this browser, not sent: a request would itself keep the session alive, and an idle session must end.
        if (warning.hidden) { keep(); }
        warning.hidden = false;
        warning.querySelector("span").textContent = words("idle").replace("%s", Math.ceil(left / 60000));
      }
    };
    check();
    setInterval(check, 10000);
  }
})();
