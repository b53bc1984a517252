// Sends the page's CSRF token (its <meta name="csrf-token">) with every htmx request, as the
// X-CSRF-Token header the server checks on every state-changing request. No inline scripts: the
// Content-Security-Policy allows scripts from this site only.
"use strict";

document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  }
});

// A destructive form asks first: <form data-confirm="Delete this lesson?">. Submitting it without the
// browser's confirmation does nothing.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);
