// The lesson form: a free lesson's price field is disabled; the deep link's copy button; the video upload,
// streamed as the request's body (not a multipart form) with its progress shown. No inline scripts: the
// Content-Security-Policy allows scripts from this site only.
"use strict";

(function () {
  // Free lessons have no price: the field is disabled (and not sent) while "free" is ticked.
  var free = document.getElementById("is_free");
  var price = document.getElementById("price");
  if (free && price) {
    var sync = function () { price.disabled = free.checked; };
    free.addEventListener("change", sync);
    sync();
  }

  // Copy the deep link; the status line tells screen readers (and everyone) that it worked.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      var status = document.getElementById("copy-status");
      var done = function () { if (status) { status.textContent = button.getAttribute("data-copied"); } };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          field.select();
        });
      } else {
        // Plain http:// (development): the Clipboard API is missing; select the text to copy by hand.
        field.focus();
        field.select();
        if (document.execCommand && document.execCommand("copy")) { done(); }
      }
    });
  });

  var form = document.getElementById("video-form");
  if (!form) { return; }
  var input = document.getElementById("video-file");
  var progress = document.getElementById("video-progress");
  var status = document.getElementById("video-status");
  var button = form.querySelector('button[type="submit"]');
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("field-error", Boolean(isError));
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = input.files && input.files[0];
    if (!file) { input.focus(); return; }
    // Checked here first to spare a useless upload; the server checks again while the file arrives.
    if (file.type && file.type.indexOf("video/") !== 0) { say(form.getAttribute("data-not-video"), true); return; }
    if (file.size > maxBytes) { say(form.getAttribute("data-too-large"), true); return; }

    window.panelUpload(form, file, { progress: progress, button: button, say: say, defaultType: "video/mp4" });
  });
})();
