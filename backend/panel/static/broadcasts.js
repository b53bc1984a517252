// The broadcast composer: button rows added and removed in place, each row's target field (address,
// lesson or course) and the audience's lesson or course select shown for the kind chosen, the photo or
// video upload streamed as the request's body with its progress. Without scripts every field is shown and
// a blank button row is dropped on save. No inline scripts: the Content-Security-Policy allows this site's.
"use strict";

(function () {
  var form = document.querySelector(".broadcast-form");
  if (form) {
    // Only with this script are the fields of other kinds hidden (see broadcasts.css).
    form.classList.add("js");
    var rows = form.querySelector(".button-rows");
    var template = document.getElementById("button-row-template");
    var addButton = form.querySelector("[data-add-button]");
    var counter = rows.querySelectorAll(".button-row").length;

    var syncAdd = function () {
      var max = parseInt(addButton.getAttribute("data-max"), 10);
      addButton.disabled = rows.querySelectorAll(".button-row").length >= max;
    };
    // The preview shows the buttons too: asked again when a button's text changes or a row goes.
    var previewTimer = null;
    var refreshPreview = function () {
      var text = document.getElementById("text");
      window.clearTimeout(previewTimer);
      previewTimer = window.setTimeout(function () {
        if (window.htmx && text) {
          window.htmx.ajax("POST", text.getAttribute("hx-post"), {
            source: text, target: "#broadcast-preview", swap: "outerHTML"
          });
        }
      }, 400);
    };

    form.querySelectorAll(".js-only").forEach(function (element) { element.hidden = false; });
    form.addEventListener("change", function (event) {
      var target = event.target;
      if (target.matches("[data-button-kind]")) {
        target.closest(".button-row").setAttribute("data-kind", target.value);
      }
      if (target.id === "audience_kind") {
        form.querySelector(".audience").setAttribute("data-kind", target.value);
      }
    });
    form.addEventListener("input", function (event) {
      if (event.target.name === "button_text") { refreshPreview(); }
    });
    form.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-remove-button]");
      if (remove) {
        remove.closest(".button-row").remove();
        syncAdd();
        refreshPreview();
      }
    });
    addButton.addEventListener("click", function () {
      var html = template.innerHTML.replace(/__i__/g, "n" + counter);
      counter += 1;
      addButton.insertAdjacentHTML("beforebegin", html);
      var added = addButton.previousElementSibling;
      added.querySelectorAll(".js-only").forEach(function (element) { element.hidden = false; });
      if (window.htmx) { window.htmx.process(added); }
      added.querySelector("input").focus();
      syncAdd();
    });
    syncAdd();
  }

  var media = document.getElementById("media-form");
  if (!media) { return; }
  var input = document.getElementById("media-file");
  var progress = document.getElementById("media-progress");
  var status = document.getElementById("media-status");
  var button = media.querySelector('button[type="submit"]');

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("field-error", Boolean(isError));
  }

  media.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = input.files && input.files[0];
    if (!file) { input.focus(); return; }
    var isPhoto = file.type.indexOf("image/") === 0;
    var isVideo = file.type.indexOf("video/") === 0;
    // Checked here first to spare a useless upload; the server checks again while the file arrives.
    if (file.type && !isPhoto && !isVideo) { say(media.getAttribute("data-wrong-type"), true); return; }
    var limit = parseInt(media.getAttribute(isPhoto ? "data-photo-max-bytes" : "data-video-max-bytes"), 10);
    if (file.size > limit) {
      say(media.getAttribute(isPhoto ? "data-too-large-photo" : "data-too-large-video"), true);
      return;
    }

    window.panelUpload(media, file, { progress: progress, button: button, say: say, defaultType: "application/octet-stream" });
  });
})();
