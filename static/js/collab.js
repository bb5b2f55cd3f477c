// Live collaboration panels: polling pauses while the tab is hidden (no requests from a
// background tab) or while the user works in the polled region, and a comment form is
// emptied once its comment was saved.
(function () {
  "use strict";

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-poll")) return;
    // Never replace a form someone is filling in.
    if (document.hidden || elt.querySelector("details[open]") || elt.contains(document.activeElement)) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.matches && elt.matches("form[data-reset-on-success]") && event.detail.successful) {
      elt.reset();
    }
  });
})();
