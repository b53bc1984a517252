// A course's lessons in order: drag a lesson by its handle (SortableJS) and the new order is posted with
// htmx (its CSRF header comes from panel.js); the list is then swapped for the server's answer, so what the
// page shows is what was saved. The move up/down buttons do the same without a mouse or scripts.
"use strict";

function sortCourseLessons(root) {
  var boxes = root.querySelectorAll ? root.querySelectorAll("[data-order-url]") : [];
  if (root.matches && root.matches("[data-order-url]")) {
    boxes = [root];
  }
  Array.prototype.forEach.call(boxes, function (box) {
    var list = box.querySelector("[data-sortable-lessons]");
    if (!list || list.getAttribute("data-sortable-ready")) {
      return;
    }
    list.setAttribute("data-sortable-ready", "true");
    Sortable.create(list, {
      handle: ".drag-handle",
      draggable: "li",
      animation: 150,
      // Mouse and touch events instead of the browser's drag and drop: the same on every browser.
      forceFallback: true,
      onEnd: function (event) {
        if (event.oldIndex === event.newIndex) {
          return;
        }
        var ids = Array.prototype.map.call(list.querySelectorAll("li[data-id]"), function (item) {
          return item.getAttribute("data-id");
        });
        htmx.ajax("POST", box.getAttribute("data-order-url"), {
          source: box,
          target: box,
          swap: "outerHTML",
          values: { lesson_ids: ids },
        });
      },
    });
  });
}

htmx.onLoad(sortCourseLessons);
