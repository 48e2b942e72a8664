// Calendars: open an entry in the side panel; drag it onto another day/hour of the week grid to move it.
// The move is posted with htmx (carrying the page's CSRF header); the answer is
// the entry panel plus a "calendar-changed" event on which the grid reloads.
// Keyboard users get the same from the grid itself (arrow keys go from slot to slot and entry to
// entry, Shift with an arrow moves the focused entry a day or an hour) and from the entry panel's
// move form and buttons. Where the focus goes after each swap is focus.js's business.
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
  function move(entry, date, hour, source) {
    var grid = entry.closest("[data-move-base]");
    return htmx.ajax("POST", grid.dataset.moveBase + entry.dataset.entry + "/move", {
      source: source, target: "#panel", swap: "innerHTML",
      values: {date: date, time: hour + ":" + (entry.dataset.minute || "00"), tz: grid.dataset.tz},
    });
  }

  document.addEventListener("drop", function (event) {
    var cell = cellOf(event.target);
    if (!cell) return;
    event.preventDefault();
    cell.classList.remove("drop-over");
    var id = event.dataTransfer.getData("text/plain");
    var grid = cell.closest("[data-move-base]");
    var entry = grid && grid.querySelector('[data-entry="' + CSS.escape(id) + '"]');
    if (!entry) return;
    move(entry, cell.dataset.date, cell.dataset.hour, cell);
  });

  // ---- the keyboard on the week grid

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function shiftDay(date, days) {
    var d = new Date(date + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }

  // The slot (row of hours, column of days) next to `cell`, or null at the grid's edge.
  function neighbour(cell, dx, dy) {
    var row = cell.parentElement, column = cell.cellIndex + dx;
    if (dy) row = dy < 0 ? row.previousElementSibling : row.nextElementSibling;
    var next = row && row.cells[column];
    return next && next.matches("td[data-drop]") ? next : null;
  }

  function focusSlot(cell, last) {
    var entries = cell.querySelectorAll(".cal-entry");
    if (entries.length) { entries[last ? entries.length - 1 : 0].focus(); return; }
    if (!cell.hasAttribute("tabindex")) cell.setAttribute("tabindex", "-1");
    if (!cell.hasAttribute("aria-label")) {
      var table = cell.closest("table");
      var day = table.tHead.rows[0].cells[cell.cellIndex].textContent.trim();
      cell.setAttribute("aria-label", day + " " + cell.dataset.hour + ":00");
    }
    cell.focus();
  }

  var ARROWS = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};

  document.addEventListener("keydown", function (event) {
    var step = ARROWS[event.key];
    if (!step || event.altKey || event.ctrlKey || event.metaKey) return;
    var here = event.target.closest && event.target.closest(".cal-grid .cal-entry, .cal-grid td[data-drop]");
    if (!here) return;
    var cell = cellOf(here), entry = here.matches(".cal-entry") ? here : null;
    event.preventDefault();
    if (event.shiftKey) {
      if (!entry) return;
      var date = cell.dataset.date, hour = parseInt(cell.dataset.hour, 10);
      if (step[0]) date = shiftDay(date, step[0]);
      hour += step[1];
      if (hour < 0) { hour = 23; date = shiftDay(date, -1); }
      if (hour > 23) { hour = 0; date = shiftDay(date, 1); }
      // Sent from the page, not the grid: the focus stays on the entry, which the reloaded grid keeps.
      move(entry, date, pad(hour), document.body);
      return;
    }
    if (entry && step[1]) {  // up and down go through a slot's entries before leaving it
      var sibling = step[1] < 0 ? entry.previousElementSibling : entry.nextElementSibling;
      if (sibling && sibling.matches(".cal-entry")) { sibling.focus(); return; }
    }
    var next = neighbour(cell, step[0], step[1]);
    if (next) focusSlot(next, step[1] < 0);
  });
})();
