// Calendars: open an entry in the side panel; drag it onto another day/hour of the week grid to move it.
// The move is posted with htmx (carrying the page's CSRF header); the answer is
// the entry panel plus a "calendar-changed" event on which the grid reloads.
// Keyboard users get the same through the entry panel's move form and buttons.
(function () {
  "use strict";
  // An entry is a plain link (it works without JavaScript); a click opens it in the side panel.
  // One listener for the whole grid instead of hx-get on each of thousands of entries.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.cal-entry");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    htmx.ajax("GET", link.getAttribute("href"), {source: link, target: "#panel", swap: "innerHTML"});
  });

  function cellOf(target) { return target && target.closest ? target.closest("td[data-drop]") : null; }

  document.addEventListener("dragstart", function (event) {
    var entry = event.target.closest && event.target.closest("[data-entry]");
    if (!entry) return;
    event.dataTransfer.setData("text/plain", entry.dataset.entry);
    event.dataTransfer.effectAllowed = "move";
    entry.classList.add("dragging");
  });
  document.addEventListener("dragend", function (event) {
    var entry = event.target.closest && event.target.closest("[data-entry]");
    if (entry) entry.classList.remove("dragging");
  });
  document.addEventListener("dragover", function (event) {
    var cell = cellOf(event.target);
    if (!cell) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    cell.classList.add("drop-over");
  });
  document.addEventListener("dragleave", function (event) {
    var cell = cellOf(event.target);
    if (cell && !cell.contains(event.relatedTarget)) cell.classList.remove("drop-over");
  });
  document.addEventListener("drop", function (event) {
    var cell = cellOf(event.target);
    if (!cell) return;
    event.preventDefault();
    cell.classList.remove("drop-over");
    var id = event.dataTransfer.getData("text/plain");
    var grid = cell.closest("[data-move-base]");
    var entry = grid && grid.querySelector('[data-entry="' + CSS.escape(id) + '"]');
    if (!entry) return;
    htmx.ajax("POST", grid.dataset.moveBase + id + "/move", {
      source: cell, target: "#panel", swap: "innerHTML",
      values: {date: cell.dataset.date, time: cell.dataset.hour + ":" + (entry.dataset.minute || "00"), tz: grid.dataset.tz},
    });
  });
})();
