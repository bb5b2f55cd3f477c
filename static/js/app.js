// Workroom's only script: report htmx request failures as a flash message (htmx 2 does not swap
// 4xx/5xx responses, so without this a failed click would look like nothing happened).
(function () {
  "use strict";

  function flash(text) {
    var main = document.getElementById("main");
    if (!main) return;
    var box = main.querySelector(".messages");
    if (!box) {
      box = document.createElement("div");
      box.className = "messages";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      main.insertBefore(box, main.firstChild);
    }
    var p = document.createElement("p");
    p.className = "flash flash-error";
    p.textContent = text;
    box.appendChild(p);
  }

  // The server's 413 fragment names the limit; parsed inertly (DOMParser runs no scripts).
  function plainText(html) {
    if (!html || !window.DOMParser) return "";
    var doc = new DOMParser().parseFromString(html, "text/html");
    return (doc.body.textContent || "").trim().slice(0, 500);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var status = xhr ? xhr.status : 0;
    if (xhr && xhr.getResponseHeader("HX-Refresh")) return; // the page reloads itself
    var text = "The request failed";
    if (status === 403) text = "You are not allowed to do that.";
    else if (status === 404) text = "That no longer exists, or you cannot see it.";
    else if (status === 429) text = "Too many requests: wait a moment and try again.";
    else if (status === 413) text = plainText(xhr.responseText) || "That was too much to send at once.";
    else if (status >= 500) text = "The server hit an error (" + status + "). Try again in a moment.";
    flash(text);
  });

  // The main menu on a phone: the links fold behind a Menu button (CSS, once <html> has "js").
  function setUpNavMenu() {
    var button = document.querySelector(".nav-toggle");
    var links = document.getElementById("nav-links");
    if (!button || !links) return;
    button.hidden = false;
    function setOpen(open) {
      links.classList.toggle("open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.addEventListener("click", function () {
      setOpen(!links.classList.contains("open"));
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && links.classList.contains("open")) {
        setOpen(false);
        button.focus();
      }
    });
  }
  document.documentElement.classList.add("js");
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpNavMenu);
  } else {
    setUpNavMenu();
  }

  // Polling sections marked data-poll-visible-only skip their polls while the tab is hidden
  // (htmx trigger filters would need eval, which the CSP forbids).
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (document.hidden && elt && elt.hasAttribute("data-poll-visible-only")) {
      event.preventDefault();
    }
  });

  // Apply (a submit of the explorer's filters) swaps the results: bring them into view when
  // they landed below the window (filters change on their own without moving the page).
  document.addEventListener("htmx:afterSwap", function (event) {
    var config = event.detail && event.detail.requestConfig;
    var trigger = config && config.triggeringEvent;
    if (!trigger || trigger.type !== "submit") return;
    var results = document.getElementById("results");
    if (!results || !config.elt || config.elt.id !== "filter-form") return;
    var top = results.getBoundingClientRect().top;
    if (top > window.innerHeight * 0.6 || top < 0) results.scrollIntoView({block: "start"});
  });

  document.addEventListener("htmx:sendError", function () {
    flash("Workroom could not be reached. Check your connection and try again.");
  });

  // The explorer's filter panel is open in the HTML (usable without JavaScript). On a small screen it
  // sits above the table: fold it there so the results come first, and unfold it on a wide screen,
  // where its summary is hidden and the panel is a sidebar.
  // Triage's filter panel (also details.filters-panel) folds the same way.
  function fitFilterPanel() {
    var panels = document.querySelectorAll("details.filters-panel");
    if (!panels.length || !window.matchMedia) return;
    var narrow = window.matchMedia("(max-width: 1023px)");
    var apply = function () {
      for (var i = 0; i < panels.length; i++) panels[i].open = !narrow.matches;
    };
    apply();
    if (narrow.addEventListener) narrow.addEventListener("change", apply);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fitFilterPanel);
  } else {
    fitFilterPanel();
  }
})();
