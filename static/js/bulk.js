// Explorer selection helpers for bulk operations. Optional: without this script the operator
// ticks rows one by one and the form posts the same fields.
(function () {
  "use strict";

  function rowBoxes() {
    return Array.prototype.slice.call(
      document.querySelectorAll('input[type="checkbox"][name="ids"][form="bulk-form"]:not(:disabled)')
    );
  }

  function refresh() {
    var all = document.getElementById("bulk-select-page");
    var count = document.getElementById("bulk-ticked-count");
    var boxes = rowBoxes();
    var ticked = boxes.filter(function (b) { return b.checked; }).length;
    if (all) {
      all.hidden = boxes.length === 0;
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    if (count) {
      count.hidden = false;
      count.textContent = "(" + ticked + ")";
    }
  }

  function chooseTicked() {
    var ticked = document.getElementById("bulk-select-ticked");
    if (ticked) ticked.checked = true;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement)) return;
    if (target.id === "bulk-select-page") {
      rowBoxes().forEach(function (b) { b.checked = target.checked; });
      chooseTicked();
      refresh();
    } else if (target.name === "ids" && target.getAttribute("form") === "bulk-form") {
      if (target.checked) chooseTicked();
      refresh();
    }
  });

  // htmx replaces the results (and single rows) in place: re-derive the header box each time.
  document.addEventListener("htmx:afterSettle", refresh);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();
