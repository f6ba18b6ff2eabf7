// The instance diagram: bpmn-js's NavigatedViewer (served from /static/vendor), steps marked by state.
(function () {
  "use strict";
  var el = document.getElementById("diagram");
  if (!el) { return; }
  if (!window.BpmnJS) { el.textContent = "bpmn-js is not installed (run make setup)"; el.dataset.ready = "error"; return; }
  var viewer = new window.BpmnJS({ container: el });
  var marks = JSON.parse(el.dataset.marks || "{}");
  fetch(el.dataset.src, { credentials: "same-origin" })
    .then(function (response) { return response.text(); })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      var pool = registry.filter(function (shape) {
        var ref = shape.businessObject && shape.businessObject.processRef;
        return shape.type === "bpmn:Participant" && ref && ref.id === el.dataset.process;
      })[0];
      // Readable, not whole: centred at a legible scale on where the instance is (its current steps, else the
      // last done), the rest a drag or a scroll away; the whole pool only when nothing is marked yet.
      var open = (marks.incident || []).concat(marks.overdue || []).concat(marks.current || []);
      var focus = (open.length ? open : (marks.done || []).slice(-1))
        .map(function (id) { return registry.get(id); }).filter(Boolean);
      if (focus.length) {
        var left = Math.min.apply(null, focus.map(function (s) { return s.x; }));
        var right = Math.max.apply(null, focus.map(function (s) { return s.x + s.width; }));
        var top = Math.min.apply(null, focus.map(function (s) { return s.y; }));
        var bottom = Math.max.apply(null, focus.map(function (s) { return s.y + s.height; }));
        var scale = 0.9, box = canvas.viewbox();
        var width = box.outer.width / scale, height = box.outer.height / scale;
        canvas.viewbox({ x: (left + right) / 2 - width / 2, y: (top + bottom) / 2 - height / 2,
                         width: width, height: height });
      } else if (pool) {  // the instance's own pool, not the whole collaboration
        canvas.viewbox({ x: pool.x - 20, y: pool.y - 20, width: pool.width + 40, height: pool.height + 40 });
      } else {
        canvas.zoom("fit-viewport");
      }
      ["done", "current", "overdue", "incident"].forEach(function (kind) {
        (marks[kind] || []).forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, "mark-" + kind); }
        });
      });
      el.dataset.ready = "true";
    })
    .catch(function (error) { el.textContent = String(error); el.dataset.ready = "error"; });
}());
