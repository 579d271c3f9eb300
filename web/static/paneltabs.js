/* Tabs of the document panel: verbatim documents first, then any other way of tracing
 * (influence, lexical, ...) that a script adds with PanelTabs.add(panel, id, label, pane,
 * onOpen). The panel's own content becomes the first tab's pane, untouched. */
"use strict";

window.PanelTabs = window.PanelTabs || (() => {
  const { el } = CT;

  function setup(root) {
    if (root.panelTabs) return root.panelTabs;
    const bar = el("div", { class: "panel-tabs", role: "tablist", "aria-label": "Ways of tracing" });
    const first = el("div", { class: "tab-pane", role: "tabpanel", id: `${root.id}-verbatim` });
    while (root.firstChild) first.append(root.firstChild);
    root.append(bar, first);
    const tabs = { bar, entries: [] };
    root.panelTabs = tabs;
    addEntry(root, "verbatim", "Verbatim", first, null);
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
    select(root, tabs.entries[0].id, true);
    return entry;
  }

  function select(root, id, quiet) {
    for (const entry of root.panelTabs.entries) {
      const on = entry.id === id;
      entry.button.setAttribute("aria-selected", String(on));
      entry.button.tabIndex = on ? 0 : -1;
      entry.pane.hidden = !on;
      if (on && !quiet && entry.onOpen) entry.onOpen();
    }
  }

  function active(root) {
    const tabs = root.panelTabs;
    if (!tabs) return "verbatim";
    const on = tabs.entries.find((e) => e.button.getAttribute("aria-selected") === "true");
    return on ? on.id : "verbatim";
  }

  function add(root, id, label, pane, onOpen) {
    setup(root);
    return addEntry(root, id, label, pane, onOpen);
  }

  return { add, select, active };
})();
