// Task package upload with a progress bar. Without JavaScript the form posts normally.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("package-form");
    if (!form || !window.XMLHttpRequest || !window.FormData) {
      return;
    }
    var bar = document.getElementById(form.getAttribute("data-progress"));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (progress) {
        if (progress.lengthComputable && bar) {
          bar.hidden = false;
          bar.value = Math.round((progress.loaded / progress.total) * 100);
        }
      });
      xhr.addEventListener("load", function () {
        // The page the server answered (the list after the redirect, or the form with its
        // errors), shown as rendered; a reload then GETs it rather than re-posting.
        document.documentElement.innerHTML = xhr.responseText;
        if (xhr.responseURL && window.history.replaceState) {
          window.history.replaceState(null, "", xhr.responseURL);
        }
      });
      xhr.send(new FormData(form));
    });
  });
})();
