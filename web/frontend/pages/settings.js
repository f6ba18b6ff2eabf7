// The general settings page of a draft (web/edit_settings.py): a plain form that works without this script.
// Here only the grade rows: 「添加等级」 and 「删除」 buttons, and the failing-grade select and each consequence's
// grade boxes kept in step with the grades as typed (a renamed grade keeps its ticks and its selection).
const words = JSON.parse(document.getElementById("settings-words").textContent);
const list = document.getElementById("grade-rows");
const select = document.getElementById("failing_grade");
const template = document.getElementById("grade-row-template");

const rows = () => [...list.querySelectorAll(".grade-row")];
const names = () => rows().map((row) => row.querySelector('input[name="grade"]').value.trim());

// Each row keeps the name it had, so that a rename carries the select and the ticks along.
for (const row of rows()) row.dataset.name = row.querySelector('input[name="grade"]').value.trim();

function sync() {
  const before = rows().map((row) => row.dataset.name);
  const after = names();
  const renamed = new Map(before.map((name, i) => [name, after[i]]));
  const chosen = renamed.has(select.value) ? renamed.get(select.value) : select.value;
  select.replaceChildren(...after.filter(Boolean).map((name) => new Option(name, name, false, name === chosen)));
  for (const box of document.querySelectorAll("fieldset.consequence")) {
    const prefix = box.querySelector('input[name="consequence"]').value;
    const ticked = new Set([...box.querySelectorAll(".grade-box:checked")].map((b) => renamed.get(b.value) ?? b.value));
    const holder = box.querySelector(".grade-boxes");
    holder.replaceChildren();
    for (const name of after.filter(Boolean)) {
      const label = document.createElement("label");
      const input = Object.assign(document.createElement("input"), {
        type: "checkbox", name: `${prefix}_grades`, value: name, className: "grade-box", checked: ticked.has(name),
      });
      label.append(input, " ", Object.assign(document.createElement("span"), { className: "grade-name", textContent: name }), " ");
      holder.append(label);
    }
  }
  rows().forEach((row, i) => {
    row.dataset.name = after[i];
    row.querySelector('input[name="grade"]').setAttribute("aria-label", words.grade.replace("{n}", i + 1));
  });
}

function wire(row) {
  const remove = row.querySelector(".remove-grade");
  remove.hidden = false;
  remove.addEventListener("click", () => {
    const next = row.nextElementSibling?.querySelector("input") ?? row.previousElementSibling?.querySelector("input");
    row.remove();
    sync();
    (next ?? document.getElementById("add-grade")).focus();
  });
  row.querySelector('input[name="grade"]').addEventListener("input", sync);
}

rows().forEach(wire);
const add = document.getElementById("add-grade");
add.hidden = false;
document.getElementById("no-js-grades").hidden = true;
add.addEventListener("click", () => {
  const row = template.content.firstElementChild.cloneNode(true);
  row.dataset.name = "";
  list.append(row);
  wire(row);
  sync();
  row.querySelector("input").focus();
});
