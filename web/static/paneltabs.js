/* Tabs of the document panel: verbatim documents first, then the other ways of tracing.
 * Tabs written in the page (the bar `.panel-tabs` in _panel.html: verbatim, lexical) are
 * adopted as they are; a script adds one at run time with PanelTabs.add(panel, id, label,
 * pane, onOpen) (influence.js). A tab's aria-controls names its pane; one pane is shown. */
"use strict";

window.PanelTabs = window.PanelTabs || (() => {
  const { el } = CT;

  function tabId(button) {
    return button.dataset.tab || button.id.replace(/^tab-/, "");
  }

  function setup(root) {
    if (root.panelTabs) return root.panelTabs;
    let bar = root.querySelector(".panel-tabs");
    const tabs = { bar, entries: [] };
    root.panelTabs = tabs;
    if (!bar) {
      // No tab bar in the page: the panel's own content becomes the first tab's pane.
      bar = el("div", { class: "panel-tabs", role: "tablist", "aria-label": "Ways of tracing" });
      const first = el("div", { class: "tab-pane", role: "tabpanel", id: `${root.id}-verbatim` });
      while (root.firstChild) first.append(root.firstChild);
      root.append(bar, first);
      tabs.bar = bar;
      addEntry(root, "verbatim", "Verbatim", first, null);
    }
    for (const button of bar.querySelectorAll("[role=tab]")) {
      if (tabs.entries.some((e) => e.button === button)) continue;
      const pane = document.getElementById(button.getAttribute("aria-controls"));
      if (!pane) continue;
      button.classList.add("panel-tab");
      const entry = { id: tabId(button), button, pane, onOpen: null };
      button.addEventListener("click", () => select(root, entry.id));
      tabs.entries.push(entry);
    }
    bar.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const all = tabs.entries;
      const at = all.findIndex((e) => e.button === document.activeElement);
      if (at < 0) return;
      const next = all[(at + (event.key === "ArrowRight" ? 1 : all.length - 1)) % all.length];
      select(root, next.id);
      next.button.focus();
    });
    return tabs;
  }

  function addEntry(root, id, label, pane, onOpen) {
    const tabs = root.panelTabs;
    pane.id = pane.id || `${root.id}-${id}`;
    pane.setAttribute("role", "tabpanel");
    const button = el("button", {
      type: "button", role: "tab", class: "panel-tab", id: `${pane.id}-tab`,
      "aria-controls": pane.id, "aria-selected": "false", dataset: { tab: id },
    }, label);
    pane.setAttribute("aria-labelledby", button.id);
    const entry = { id, button, pane, onOpen };
    button.addEventListener("click", () => select(root, id));
    tabs.bar.append(button);
    if (!pane.parentNode) root.append(pane);
    tabs.entries.push(entry);
    select(root, active(root), true);
    return entry;
  }

  function select(root, id, quiet) {
    for (const entry of setup(root).entries) {
      const on = entry.id === id;
      entry.button.setAttribute("aria-selected", String(on));
      entry.button.tabIndex = on ? 0 : -1;
      entry.pane.hidden = !on;
      if (on && !quiet && entry.onOpen) entry.onOpen();
    }
  }

  function active(root) {
    const on = setup(root).entries.find((e) => e.button.getAttribute("aria-selected") === "true");
    return on ? on.id : "verbatim";
  }

  function add(root, id, label, pane, onOpen) {
    setup(root);
    return addEntry(root, id, label, pane, onOpen);
  }

  // Tabs written in the page work before any script adds one.
  for (const root of document.querySelectorAll(".panel")) {
    if (root.querySelector(".panel-tabs")) setup(root);
  }
  return { add, select, active };
})();
