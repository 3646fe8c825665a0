/* The scroll cue (styles in book.css): mark every box whose content is wider than the box.
 *
 * A wide equation, output or table scrolls inside its own box (the page never scrolls
 * sideways); this script gives such a box the class `scrolls-x`, paints its scroll shadows in
 * the box's own background colour, and puts a "scroll" hint under it. It runs once MathJax has
 * typeset the page (widths are only known then) and again when the window is resized.
 */
(function () {
  "use strict";
  var BOXES = [
    "div.math",
    "div.cell_output pre", "div.output pre", "div.highlight pre",
    "div.cell_output mjx-container[display='true']",
    ".pst-scrollable-table-container", "div.table-wrapper",
  ].join(", ");

  function background(el) {
    for (var a = el; a && a !== document.documentElement; a = a.parentElement) {
      var colour = getComputedStyle(a).backgroundColor;
      if (colour && colour !== "transparent" && !/rgba\(.*,\s*0\)$/.test(colour)) return colour;
    }
    return "";
  }

  function hint(el) {
    var next = el.nextElementSibling;
    return next && next.classList.contains("scroll-hint") ? next : null;
  }

  function mark() {
    document.querySelectorAll(BOXES).forEach(function (el) {
      var style = getComputedStyle(el).overflowX;
      var scrolls = (style === "auto" || style === "scroll") && el.scrollWidth > el.clientWidth + 1;
      var had = el.classList.contains("scrolls-x");
      if (scrolls && !had) {
        el.classList.remove("scrolls-x");
        var cover = background(el);
        el.classList.add("scrolls-x");
        if (cover) el.style.setProperty("--cue-cover", cover);
        if (!hint(el) && el.parentNode) {
          var note = document.createElement("span");
          note.className = "scroll-hint";
          note.setAttribute("aria-hidden", "true");
          note.textContent = "\u21C6 scroll sideways";
          el.parentNode.insertBefore(note, el.nextSibling);
        }
      } else if (!scrolls && had) {
        el.classList.remove("scrolls-x");
        if (hint(el)) hint(el).remove();
      }
    });
    document.documentElement.setAttribute("data-scroll-cues", "ready");
  }

  function start() {
    var mj = window.MathJax;
    var typeset = mj && mj.startup && mj.startup.promise;
    (typeset || Promise.resolve()).then(mark, mark);
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(mark, 150);
    });
  }

  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
