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
      if (pool) {  // the instance's own pool, not the whole collaboration
        canvas.viewbox({ x: pool.x - 20, y: pool.y - 20, width: pool.width + 40, height: pool.height + 40 });
      } else {
        canvas.zoom("fit-viewport");
      }
      ["done", "current", "overdue"].forEach(function (kind) {
        (marks[kind] || []).forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, "mark-" + kind); }
        });
      });
      el.dataset.ready = "true";
    })
    .catch(function (error) { el.textContent = String(error); el.dataset.ready = "error"; });
}());
