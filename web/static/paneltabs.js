/* Tabs of the document panel (verbatim, lexical, ...): one pane shown at a time.
 * A tab is any [role=tab] inside .panel-tabs; its aria-controls names its pane. */
"use strict";

(() => {
  const bar = document.querySelector("#doc-panel .panel-tabs");
  if (!bar) return;
  const tabs = () => Array.from(bar.querySelectorAll("[role=tab]"));

  function choose(tab) {
    for (const t of tabs()) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      const pane = document.getElementById(t.getAttribute("aria-controls"));
      if (pane) pane.hidden = !on;
    }
  }

  bar.addEventListener("click", (event) => {
    const tab = event.target.closest("[role=tab]");
    if (tab) choose(tab);
  });
  bar.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const all = tabs();
    const at = all.indexOf(document.activeElement);
    if (at < 0) return;
    const next = all[(at + (event.key === "ArrowRight" ? 1 : all.length - 1)) % all.length];
    choose(next);
    next.focus();
  });
})();
