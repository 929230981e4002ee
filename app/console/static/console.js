/* Parley console: small enhancements on top of htmx. Every page works without them. */
(function () {
  "use strict";

  /* Tell the server the browser's time zone, so calls show in the agent's own time. */
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("parley_tz=" + zone) === -1) {
      document.cookie = "parley_tz=" + zone + "; path=/console; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: the team's zone is used */ }

  /* Upload progress: htmx reports the bytes sent; the <progress> shows them. */
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest ? event.target.closest("form") : null;
    if (!form) { return; }
    var bar = form.querySelector("progress");
    if (!bar || !event.detail.lengthComputable) { return; }
    bar.hidden = false;
    bar.max = event.detail.total;
    bar.value = event.detail.loaded;
    var label = form.querySelector("[data-progress-label]");
    if (event.detail.loaded >= event.detail.total) {
      /* Sent: the server is importing; indeterminate until it answers. */
      bar.removeAttribute("value");
      if (label) { label.textContent = label.getAttribute("data-processing") || ""; }
    } else if (label) {
      label.textContent = Math.round(100 * event.detail.loaded / event.detail.total) + " %";
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var bar = event.target.querySelector ? event.target.querySelector("progress") : null;
    if (!bar) { return; }
    bar.max = 100;
    bar.value = 100;
    var label = event.target.querySelector("[data-progress-label]");
    if (label) { label.textContent = "100 %"; }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var bar = event.target.querySelector ? event.target.querySelector("progress") : null;
    if (bar) { bar.hidden = false; bar.value = 0; }
  });

  /* Canned replies: picking one fills the message box, which stays editable. */
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-canned-for]")) { return; }
    var box = document.getElementById(select.getAttribute("data-canned-for"));
    if (box && select.value) { box.value = select.value; box.focus(); }
  });
})();
