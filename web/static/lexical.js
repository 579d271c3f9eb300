/* The "Lexical" tab of the document panel: when a trace is shown, BM25 over the whole
 * corpus (POST /api/lexical) with prompt + response as the query. Corpus text goes in
 * as text nodes only. */
"use strict";

(() => {
  const { el, clear, marked, api, plural } = CT;
  const panel = document.getElementById("doc-panel");
  const pane = document.getElementById("pane-lexical");
  if (!panel || !pane) return;
  const list = pane.querySelector(".lexical-list");
  const title = pane.querySelector(".lexical-title");
  const LIMIT = 10;
  let latest = 0;
  let available = null; // a promise of GET /api/lexical's `available`, asked once

  function hasLexical() {
    if (!available) {
      available = api("/api/lexical", undefined, "GET").then((s) => s.available, (error) => {
        available = null; // ask again next time
        throw error;
      });
    }
    return available;
  }

  function message(text) {
    clear(list);
    list.append(el("p", { class: "empty" }, text));
  }

  function docUrl(hit) {
    const params = new URLSearchParams();
    for (const word of hit.matched) params.append("mark", word);
    return `/documents/${hit.doc}?${params}`;
  }

  function card(hit, verbatim) {
    const ranges = hit.marks.map((m) => ({ start: m.char_start, end: m.char_end }));
    return el("article", { class: "lexical-doc", dataset: { doc: hit.doc } },
      el("header", {},
        verbatim.has(hit.doc)
          ? el("span", { class: "badge badge-high", title: "also among the verbatim documents" }, "verbatim")
          : null,
        el("h3", {}, DocCards.docTitle(hit)),
        el("span", { class: "relevance", title: "BM25 over the whole corpus" },
          `BM25 ${hit.score.toFixed(2)}`)),
      el("p", { class: "matched muted" }, `shares ${plural(hit.matched.length, "word")}: ${hit.matched.join(", ")}`),
      el("p", { class: "snippet" }, "\u2026", marked(hit.snippet, ranges, () => el("mark")), "\u2026"),
      el("div", { class: "actions" },
        el("a", { href: docUrl(hit), class: "open-doc", target: "_blank", rel: "noopener" }, "Open document")));
  }

  function render(page, result) {
    clear(list);
    title.textContent = `Lexical matches (${page.count.toLocaleString()})`;
    if (!page.hits.length) {
      message("No document shares a word with this text.");
      return;
    }
    const verbatim = new Set(result.documents.map((d) => d.doc));
    for (const hit of page.hits) list.append(card(hit, verbatim));
  }

  panel.addEventListener("trace-shown", async (event) => {
    const result = event.detail;
    const mine = ++latest;
    title.textContent = "Lexical matches";
    if (!result) return message("Trace a text to see the documents that share its words.");
    const query = `${result.prompt || ""} ${result.text || ""}`.trim();
    if (!query) return message("Nothing to search for.");
    message("Searching the whole corpus\u2026");
    try {
      if (!(await hasLexical())) {
        if (mine === latest) {
          message("This index has no lexical part; build it with `corpustrace lexical build INDEX`.");
        }
        return;
      }
      const page = await api("/api/lexical", { query, limit: LIMIT });
      if (mine === latest) render(page, result);
    } catch (error) {
      if (mine !== latest) return;
      message(error.code === "no_lexical_index"
        ? "This index has no lexical part; build it with `corpustrace lexical build INDEX`."
        : `Lexical search failed: ${error.message}`);
    }
  });
})();
