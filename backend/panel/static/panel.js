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

// Uploads a file with a progress bar (the lessons' video, a broadcast's photo or video): POSTs it as the
// raw body to the form's data-upload-url, then follows the {"redirect": ...} the server answers, or shows
// its {"error": ...}. The form's data-done, data-failed and data-uploading attributes are its messages;
// say(text, isError) shows them.
window.panelUpload = function (form, file, parts) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  var request = new XMLHttpRequest();
  request.open("POST", form.getAttribute("data-upload-url"));
  request.setRequestHeader("X-CSRF-Token", meta ? meta.getAttribute("content") : "");
  request.setRequestHeader("Content-Type", file.type || parts.defaultType);
  request.upload.addEventListener("progress", function (progressEvent) {
    if (progressEvent.lengthComputable) {
      parts.progress.value = Math.round((progressEvent.loaded / progressEvent.total) * 100);
    }
  });
  function failed(text) {
    parts.button.disabled = false;
    parts.progress.hidden = true;
    parts.say(text, true);
  }
  request.addEventListener("load", function () {
    var answer = {};
    try { answer = JSON.parse(request.responseText); } catch (error) { answer = {}; }
    if (request.status === 200 && answer.redirect) {
      parts.progress.value = 100;
      parts.say(form.getAttribute("data-done"), false);
      window.location.assign(answer.redirect);
      return;
    }
    failed(answer.error || form.getAttribute("data-failed") + " (" + request.status + ")");
  });
  request.addEventListener("error", function () { failed(form.getAttribute("data-failed")); });
  parts.button.disabled = true;
  parts.progress.value = 0;
  parts.progress.hidden = false;
  parts.say(form.getAttribute("data-uploading"), false);
  request.send(file);
};
