/* One card of the verbatim document panel: every card of the chat and trace pages is
 * drawn by DocCards.card(), so a new field of a document goes in here, in one place.
 * All corpus text goes in as text nodes. */
"use strict";

const DocCards = (() => {
  const { el, marked } = CT;
  const META_SKIP = new Set(["text", "title"]);

  function short(text, n = 60) {
    const cps = Array.from(text);
    return cps.length > n ? cps.slice(0, n - 1).join("") + "\u2026" : text;
  }

  function docTitle(doc) {
    const meta = doc.meta || {};
    const title = meta.title || meta.name || meta.id;
    return title !== undefined && title !== null && title !== "" ? String(title) : `Document ${doc.doc}`;
  }

  function documentUrl(result, doc) {
    const params = new URLSearchParams();
    // Whitespace-only spans would mark every space of the document: they carry no clue.
    const texts = [...new Set(doc.spans.map((i) => result.spans[i].text))]
      .filter((text) => text.trim() !== "");
    for (const text of texts) params.append("mark", text);
    return `/documents/${doc.doc}?${params}`;
  }

  function metaList(doc) {
    const list = el("dl", { class: "meta" });
    const meta = doc.meta || {};
    let shown = 0;
    for (const [key, value] of Object.entries(meta)) {
      if (META_SKIP.has(key) || value === null || value === undefined || shown >= 6) continue;
      const text = typeof value === "string" ? value : JSON.stringify(value);
      let dd;
      if (key === "url" && /^https?:\/\//i.test(text)) {
        dd = el("dd", {}, el("a", { href: text, rel: "noopener noreferrer", target: "_blank" }, short(text, 80)));
      } else dd = el("dd", {}, short(text, 120));
      list.append(el("dt", {}, key), dd);
      shown += 1;
    }
    list.append(el("dt", {}, "index"), el("dd", {}, `#${doc.doc} (shard ${doc.shard})`));
    return list;
  }

  function snippetNode(snippet) {
    const frag = marked(snippet.text, [{ start: snippet.char_start, end: snippet.char_end }],
      () => el("mark"));
    return el("p", { class: "snippet" }, "\u2026", frag, "\u2026");
  }

  function contextNode(doc) {
    const ranges = doc.context_spans.map((c) => ({ start: c.char_start, end: c.char_end }));
    return el("div", { class: "context", hidden: true },
      marked(doc.context, ranges, () => el("mark")));
  }

  /** The card of `doc` in `result`; with `focusSpans`, only the snippets of those spans. */
  function card(result, doc, focusSpans) {
    const snippets = focusSpans
      ? doc.snippets.filter((sn) => focusSpans.includes(sn.span))
      : doc.snippets;
    const context = contextNode(doc);
    const toggle = el("button", { type: "button", class: "link", "aria-expanded": "false" }, "Show context");
    toggle.addEventListener("click", () => {
      context.hidden = !context.hidden;
      toggle.setAttribute("aria-expanded", String(!context.hidden));
      toggle.textContent = context.hidden ? "Show context" : "Hide context";
    });
    return el("article", { class: `doc level-${doc.level}`, dataset: { doc: doc.doc } },
      el("header", {},
        el("span", { class: `badge badge-${doc.level}`, title: "relevance level" }, doc.level),
        el("h3", {}, docTitle(doc)),
        el("span", { class: "relevance", title: `BM25 ${doc.bm25.toFixed(2)}` },
          `relevance ${(doc.relevance * 100).toFixed(0)}%`)),
      metaList(doc),
      el("div", { class: "snippets" }, snippets.map(snippetNode)),
      el("div", { class: "actions" },
        toggle,
        el("a", { href: documentUrl(result, doc), class: "open-doc", target: "_blank", rel: "noopener" }, "Open document")),
      context);
  }

  return { card, short, docTitle, documentUrl };
})();
