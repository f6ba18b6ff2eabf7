// A button with data-confirm asks before its form is sent (inline handlers are not allowed by the pages' CSP).
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) { event.preventDefault(); }
});
