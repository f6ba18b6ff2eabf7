// Numbers typed into a task's form are checked in the page before it is sent (issue 12, item 4): each numeric
// input carries its bounds and the words the server would say (data-check-*, from engine/procedure/scoring.py
// and forms.py), so every error shows at its field and in a summary at once, and the form is not submitted until
// they are mended. Saving a draft is never blocked. The server checks again and stays the judge.
(function () {
  "use strict";
  var form = document.getElementById("task-form");
  if (!form) { return; }
  var summary = document.getElementById("form-check");
  var NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)$/;

  function problem(input) {
    var text = input.value.trim(), c = input.dataset;
    if (text === "" || input.readOnly) { return null; }
    if (!NUMBER.test(text)) { return c.checkNan || null; }
    var value = parseFloat(text);
    if (c.checkMin !== undefined && value < parseFloat(c.checkMin)) { return c.checkBelow; }
    if (c.checkMax !== undefined && value > parseFloat(c.checkMax)) { return c.checkAbove; }
    var fraction = (text.split(".")[1] || "").replace(/0+$/, "");
    if (c.checkPlaces !== undefined && fraction.length > parseInt(c.checkPlaces, 10)) { return c.checkDecimals; }
    return null;
  }

  function show(input, message) {
    var holder = input.parentNode, old = holder.querySelector('.field-error[data-checked-in-page]');
    if (old) { old.remove(); }
    holder.classList.toggle("has-error", !!message);
    if (!message) { return; }
    var p = document.createElement("p");
    p.className = "field-error";
    p.dataset.checkedInPage = "1";
    p.dataset.field = input.dataset.path;
    p.textContent = message;
    input.insertAdjacentElement("afterend", p);
  }

  function check(all) {
    var found = [];
    form.querySelectorAll("input[data-check-nan]").forEach(function (input) {
      var shown = input.parentNode.querySelector('.field-error[data-checked-in-page]');
      if (!all && !shown) { return; }
      var message = problem(input);
      show(input, message);
      if (message) { found.push([input, input.dataset.checkLabel ? input.dataset.checkLabel + "：" + message : message]); }
    });
    if (summary) {
      var list = summary.querySelector("ul");
      list.textContent = "";
      found.forEach(function (pair) {
        var li = document.createElement("li");
        li.textContent = pair[1];
        list.appendChild(li);
      });
      summary.hidden = found.length === 0;
    }
    return found;
  }

  form.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[data-check-nan]")) {
      var message = problem(event.target);
      show(event.target, message);
      check(false);
    }
  });
  form.addEventListener("input", function () { if (summary && !summary.hidden) { check(false); } });
  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.value === "save") { return; }
    var found = check(true);
    if (found.length) {
      event.preventDefault();
      event.stopImmediatePropagation();
      found[0][0].focus();
      summary.scrollIntoView({ block: "nearest" });
    }
  });
})();
