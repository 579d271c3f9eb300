/* Extras on the document cards of the panel (issue 10): the index (training phase) each
 * document comes from, a filter by index, and "repeated N times" with the list of the
 * repeats. The cards themselves are built by traceview.js; this file only decorates
 * the ones the panel renders, so either can change without the other. */
"use strict";

(() => {
  const root = document.getElementById("doc-panel");
  if (!root) return;
  const { el } = CT;
  const list = root.querySelector(".panel-list");
  let result = null;
  let chosen = ""; // "" shows every index
  let several = false; // the server serves more than one index (GET /api/info)
  CT.api("/api/info").then((info) => {
    several = (info.indexes || []).length > 1;
    for (const card of list.querySelectorAll("article.doc")) addIndexName(card);
  }).catch(() => {});

  const select = el("select", { id: "index-filter", "aria-label": "Filter documents by index" });
  const bar = el("div", { class: "index-filter", hidden: true },
    el("label", { for: "index-filter" }, "Index "), select);
  list.before(bar);
  select.addEventListener("change", () => { chosen = select.value; apply(); });

  function byDoc(id) {
    return result ? result.documents.find((d) => String(d.doc) === String(id)) : null;
  }

  function decorate(card) {
    if (card.dataset.extras) return;
    card.dataset.extras = "1";
    const doc = byDoc(card.dataset.doc);
    if (!doc) return;
    card.dataset.index = doc.index || "";
    const header = card.querySelector("header") || card;
    addIndexName(card);
    if (doc.repeats > 1) header.append(repeatsNode(doc));
  }

  function addIndexName(card) {
    const header = card.querySelector("header") || card;
    if (!several || !card.dataset.index || header.querySelector(".index-name")) return;
    header.append(el("span", { class: "index-name", title: "index (training phase)" }, card.dataset.index));
  }

  function repeatsNode(doc) {
    const others = (doc.repeat_docs || []).filter((d) => d !== doc.doc);
    const more = doc.repeats - 1 - others.length;
    const details = el("details", { class: "repeats" },
      el("summary", { class: "badge badge-repeats" }, `repeated ${doc.repeats} times`),
      el("ul", {}, others.map((d) => el("li", {}, el("a", { href: `/documents/${d}` }, `#${d}`))),
        more > 0 ? el("li", { class: "muted" }, `and ${more} more`) : null));
    return details;
  }

  function apply() {
    for (const card of list.querySelectorAll("article.doc")) {
      decorate(card);
      card.hidden = Boolean(chosen) && card.dataset.index !== chosen;
    }
  }

  function setIndexes(docs) {
    const names = [...new Set(docs.map((d) => d.index).filter(Boolean))].sort();
    bar.hidden = names.length < 2;
    if (!names.includes(chosen)) chosen = "";
    select.replaceChildren(el("option", { value: "" }, "all indexes"),
      ...names.map((n) => el("option", { value: n }, n)));
    select.value = chosen;
  }

  root.addEventListener("trace-shown", (event) => {
    result = event.detail;
    setIndexes(result ? result.documents : []);
    apply();
  });
  new MutationObserver(apply).observe(list, { childList: true });
})();
