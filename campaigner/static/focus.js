// Keyboard focus and screen-reader announcements around htmx swaps. Loaded on every page.
//
// An htmx swap replaces nodes; when the replaced nodes held the focus, the browser drops it to
// <body> and the next Tab starts at the logo. So, for each swap:
// - If the focus was inside the swapped region and is gone afterwards, it goes to the same control
//   in the new content (matched by id, data-focus-key, data-entry, a grid slot's day and hour, or
//   its role and accessible name within its nearest ancestor with an id); when that control is
//   gone (an Approve button once approved, a removed tag's button), to the region's status message
//   ([data-announce]); else to the region's heading, or the region itself. A form answered with
//   errors puts it on the first invalid field before all that.
// - A swap asked for from inside [data-focus-into] (opening an entry in the calendar's side panel)
//   moves the focus to the new content's heading.
// - Status messages of the new content ([data-announce]) are read out by the page's one live
//   region, #announcer, which never moves: a live region that arrives with the swap is not
//   announced, and a whole panel marked live reads hundreds of characters on each change.
// - Polled regions ([data-poll]) are updated in place while they keep polling: only the text and
//   attributes that changed, in nodes that persist, so a focused link or button inside survives.
// And after a full page load with form errors, the first invalid field (or the error summary) has
// the focus.
(function () {
  "use strict";

  var KEY_ATTRIBUTES = ["data-focus-key", "data-entry"];

  function accessibleName(el) {
    return (el.getAttribute("aria-label") || el.textContent || el.value || "").replace(/\s+/g, " ").trim();
  }

  // How to find "the same control" again once its node has been replaced.
  function keyOf(el) {
    if (el.id) return {selector: "#" + CSS.escape(el.id)};
    for (var i = 0; i < KEY_ATTRIBUTES.length; i++) {
      var value = el.getAttribute(KEY_ATTRIBUTES[i]);
      if (value !== null) return {selector: "[" + KEY_ATTRIBUTES[i] + '="' + CSS.escape(value) + '"]'};
    }
    if (el.matches("td[data-date][data-hour]")) {
      return {selector: 'td[data-date="' + CSS.escape(el.dataset.date) + '"][data-hour="' + CSS.escape(el.dataset.hour) + '"]'};
    }
    var holder = el.parentElement && el.parentElement.closest("[id]");
    var form = el.form || el.closest("form");
    return {tag: el.tagName, name: accessibleName(el), within: holder ? holder.id : null,
            action: form ? form.getAttribute("action") : null};
  }

  function findByKey(key) {
    if (key.selector) return document.querySelector(key.selector);
    var scope = (key.within && document.getElementById(key.within)) || document;
    var candidates = scope.getElementsByTagName(key.tag);
    for (var i = 0; i < candidates.length; i++) {
      var el = candidates[i];
      var form = el.form || el.closest("form");
      if (accessibleName(el) === key.name && (!key.action || (form && form.getAttribute("action") === key.action))) return el;
    }
    return null;
  }

  function focusOn(el) {
    if (!el) return false;
    if (!el.matches("a[href], button, input, select, textarea, [tabindex]")) el.setAttribute("tabindex", "-1");
    el.focus();
    return document.activeElement === el;
  }

  function focusLost() {
    var active = document.activeElement;
    return !active || active === document.body || !active.isConnected;
  }

  var lastHeard = {};

  // `quiet`: the swap followed typing or a choice, not a press; the same words again are not read.
  function announce(text, regionId, quiet) {
    var live = document.getElementById("announcer");
    if (!live || !text) return;
    if (quiet && lastHeard[regionId] === text) return;
    lastHeard[regionId] = text;
    // Emptied first so that the same message twice in a row is read twice.
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function announcement(region) {
    var parts = [];
    region.querySelectorAll("[data-announce]").forEach(function (el) { parts.push(accessibleName(el)); });
    return parts.join(" ");
  }

  function firstInvalid(scope) {
    return scope.querySelector("[data-error-summary], [aria-invalid=true]");
  }

  // ---- polled regions: update in place

  function sameShape(a, b) {
    if (a.childNodes.length !== b.childNodes.length) return false;
    for (var i = 0; i < a.childNodes.length; i++) {
      var x = a.childNodes[i], y = b.childNodes[i];
      if (x.nodeType !== y.nodeType || x.nodeName !== y.nodeName) return false;
    }
    return true;
  }

  function syncAttributes(old, fresh) {
    var i;
    for (i = old.attributes.length - 1; i >= 0; i--) {
      var name = old.attributes[i].name;
      if (!fresh.hasAttribute(name) && name !== "tabindex" && name.indexOf("data-hx") !== 0) old.removeAttribute(name);
    }
    for (i = 0; i < fresh.attributes.length; i++) {
      var attr = fresh.attributes[i];
      if (old.getAttribute(attr.name) !== attr.value) old.setAttribute(attr.name, attr.value);
    }
  }

  // Make `old` read like `fresh`, keeping every node whose place in the tree is unchanged.
  function updateInPlace(old, fresh) {
    if (old.nodeType !== Node.ELEMENT_NODE) {
      if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
      return;
    }
    syncAttributes(old, fresh);
    if (!sameShape(old, fresh)) {
      old.replaceChildren.apply(old, Array.prototype.slice.call(fresh.childNodes));
      if (window.htmx) htmx.process(old);
      return;
    }
    for (var i = 0; i < old.childNodes.length; i++) updateInPlace(old.childNodes[i], fresh.childNodes[i]);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail, target = detail.target;
    if (!detail.shouldSwap || !target) return;
    var active = document.activeElement;
    var state = {targetId: target.id || null, target: target};
    if (active && active !== document.body && target.contains(active)) state.key = keyOf(active);
    var config = detail.requestConfig || {};
    var source = config.elt, cause = config.triggeringEvent && config.triggeringEvent.type;
    state.quiet = cause === "input" || cause === "change" || cause === "keyup";
    state.silent = cause === "load";  // what a page fills in as it opens is read with the page
    if (source && !target.contains(source) && source.closest && source.closest("[data-focus-into]")) state.into = true;
    if (target.hasAttribute("data-poll")) {
      var template = document.createElement("template");
      template.innerHTML = detail.serverResponse;
      var fresh = template.content.firstElementChild;
      // Still polling: the numbers change, the nodes stay. Once it stops, the whole region swaps.
      if (fresh && fresh.id === target.id && fresh.hasAttribute("hx-trigger")) {
        detail.shouldSwap = false;
        updateInPlace(target, fresh);
        return;
      }
    }
    if (detail.xhr) detail.xhr.campaignerFocus = state;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var xhr = event.detail.xhr, state = xhr && xhr.campaignerFocus;
    if (!state) return;
    delete xhr.campaignerFocus;
    var region = state.target.isConnected ? state.target
      : (state.targetId && document.getElementById(state.targetId)) || event.target;
    if (!region || !region.isConnected) return;
    if (!state.silent) announce(announcement(region), state.targetId, state.quiet);
    var message = region.querySelector("[data-announce]:not(.visually-hidden)");
    if (state.into) {
      focusOn(region.querySelector("h1, h2, h3") || region);
    } else if (state.key && focusLost()) {
      focusOn(firstInvalid(region)) || focusOn(findByKey(state.key)) || focusOn(message) ||
        focusOn(region.querySelector("h1, h2, h3")) || focusOn(region);
    }
  });

  // A form sent without htmx and answered with its errors: start at the first problem.
  document.addEventListener("DOMContentLoaded", function () {
    var main = document.querySelector("main");
    var bad = main && document.body.hasAttribute("data-form-answer") && firstInvalid(main);
    if (bad) focusOn(bad);
  });
})();
