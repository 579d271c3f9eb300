/* The Influence tab of the document panel (TrackStar, docs/influence.md): the training
 * chunks whose gradients align most with the traced text's, each shown inside its
 * document with the chunk marked. Shown only when the server has a feature store. */
"use strict";

(() => {
  const { el, clear, api, status, marked } = CT;
  const root = document.getElementById("doc-panel");
  if (!root) return;
  const K = 10;
  let current = null;
  let shownFor = null;
  let entry = null;

  const note = el("p", { class: "influence-note muted" });
  const opponents = el("input", { type: "checkbox", id: "influence-opponents" });
  const statusLine = el("p", { class: "status", role: "status" });
  const list = el("div", { class: "influence-list", "aria-live": "polite" });
  const pane = el("div", { class: "tab-pane influence-pane" },
    el("h2", { class: "panel-title" }, "Influential training examples"),
    note,
    el("div", { class: "row" },
      el("label", { class: "check", for: "influence-opponents" }, opponents, " Show opponents")),
    statusLine, list);

  function hint() {
    clear(list);
    list.append(el("p", { class: "empty" },
      "Trace a text to see the training examples whose gradients align most with it."));
  }

  function title(ex) {
    const meta = ex.meta || {};
    const name = meta.title || meta.name || meta.id;
    return name !== undefined && name !== null && name !== "" ? String(name) : `Document ${ex.doc}`;
  }

  function documentUrl(ex) {
    const params = new URLSearchParams();
    const text = ex.text.trim();
    if (text) params.append("mark", Array.from(text).slice(0, 300).join(""));
    return `/documents/${ex.doc}?${params}`;
  }

  function card(ex, kind) {
    const context = el("p", { class: "snippet influence-chunk" },
      marked(ex.context, [{ start: ex.char_start, end: ex.char_end }], () => el("mark")));
    const sign = ex.score >= 0 ? "+" : "\u2212";
    return el("article", { class: `doc influence-${kind}`, dataset: { doc: ex.doc, example: ex.example } },
      el("header", {},
        el("span", { class: "badge influence-rank" }, `#${ex.rank}`),
        el("h3", {}, title(ex)),
        el("span", { class: "influence-score", title: "cosine of corrected, projected gradients" },
          `score ${sign}${Math.abs(ex.score).toFixed(3)}`)),
      el("p", { class: "small-text muted" },
        `document #${ex.doc} (shard ${ex.shard}), tokens ${ex.token_start}\u2013${ex.token_end}`),
      context,
      el("div", { class: "actions" }, el("a", { href: documentUrl(ex), class: "open-doc", target: "_blank", rel: "noopener" }, "Open document")));
  }

  function render(result) {
    clear(list);
    const parts = [`${result.examples.toLocaleString("en")} training chunks scored`];
    if (result.hessian_lambda > 0) parts.push(`\u03bb ${result.hessian_lambda.toFixed(3)}`);
    note.textContent = parts.join(" \u00b7 ") + (result.note ? ` \u2014 ${result.note}` : "");
    list.append(el("h3", { class: "influence-heading" }, "Proponents"));
    for (const ex of result.proponents) list.append(card(ex, "proponent"));
    if (result.opponents.length) {
      list.append(el("h3", { class: "influence-heading" }, "Opponents"));
      for (const ex of result.opponents) list.append(card(ex, "opponent"));
    }
  }

  async function load() {
    if (!current) { hint(); return; }
    const key = `${current.prompt || ""}\u0000${current.text}\u0000${opponents.checked}`;
    if (shownFor === key) return;
    shownFor = key;
    status(statusLine, null, "Computing influence\u2026");
    clear(list);
    try {
      const body = { prompt: current.prompt || "", response: current.text, k: K, opponents: opponents.checked };
      const result = await api("/api/influence", body);
      if (shownFor !== key) return;
      render(result);
      status(statusLine, null, "");
    } catch (error) {
      shownFor = null;
      status(statusLine, error);
    }
  }

  root.addEventListener("panel:trace", (event) => {
    current = event.detail && event.detail.text ? event.detail : null;
    shownFor = null;
    if (entry && PanelTabs.active(root) === "influence") load();
    else hint();
  });
  opponents.addEventListener("change", () => { if (entry) load(); });

  api("/api/info").then((info) => {
    if (!info.influence) return;
    hint();
    entry = PanelTabs.add(root, "influence", "Influence", pane, load);
  }).catch(() => { /* no influence tab: the verbatim panel works alone */ });
})();
