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

  /** The last part of a path ("/srv/corpus/wiki.jsonl" -> "wiki.jsonl"): the server's
   * directories mean nothing to a reader, and the whole value is under "details". */
  function sourceName(source) {
    const text = String(source);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
    const parts = text.split(/[\\/]/).filter(Boolean);
    return parts.length ? parts[parts.length - 1] : text;
  }

  /** "https://www.example.org/wiki/Mill" -> "example.org/wiki/Mill" (shortened). */
  function compactUrl(url) {
    return short(url.replace(/^https?:\/\//i, "").replace(/^www\./i, "").replace(/\/$/, ""), 48);
  }

  /** One line under the title: the source's name and the URL. */
  function sourceLine(doc) {
    const meta = doc.meta || {};
    const parts = [];
    if (meta.source !== undefined && meta.source !== null && meta.source !== "") {
      parts.push(el("span", { class: "source" }, short(sourceName(meta.source), 40)));
    }
    const url = typeof meta.url === "string" ? meta.url : "";
    if (/^https?:\/\//i.test(url)) {
      parts.push(el("a", { class: "url", href: url, rel: "noopener noreferrer", target: "_blank" },
        compactUrl(url)));
    }
    if (!parts.length) return null;
    return el("p", { class: "doc-source" }, parts.flatMap((p, i) => (i ? [" \u00b7 ", p] : [p])));
  }

  /** Every metadata field (whole values) and where the document is in the index. */
  function detailsList(doc) {
    const list = el("dl", { class: "meta", hidden: true });
    for (const [key, value] of Object.entries(doc.meta || {})) {
      if (META_SKIP.has(key) || value === null || value === undefined) continue;
      const text = typeof value === "string" ? value : JSON.stringify(value);
      list.append(el("dt", {}, key), el("dd", {}, short(text, 300)));
    }
    list.append(el("dt", {}, "index"), el("dd", {}, `#${doc.doc} (shard ${doc.shard})`));
    list.append(el("dt", {}, "relevance"),
      el("dd", {}, `${(doc.relevance * 100).toFixed(0)}% (BM25 ${doc.bm25.toFixed(2)})`));
    return list;
  }

  /** A link-style button that shows and hides `target`. */
  function toggle(show, hide, target, className) {
    const button = el("button", { type: "button", class: `link ${className}`, "aria-expanded": "false" }, show);
    button.addEventListener("click", () => {
      target.hidden = !target.hidden;
      button.setAttribute("aria-expanded", String(!target.hidden));
      button.textContent = target.hidden ? show : hide;
    });
    return button;
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

  function setLocated(button, on) {
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Show all spans" : "Locate spans";
  }

  /** The card of `doc` in `result`. Options: `focus` (span indexes: show only their
   * snippets), `onLocate(doc, button)` (the "Locate spans" control; none without it),
   * `located` (its spans are the ones highlighted now).
   * Other features add to `.doc-badges` (header) or `.actions` here. */
  function card(result, doc, options = {}) {
    const { focus, onLocate } = options;
    const snippets = focus ? doc.snippets.filter((sn) => focus.includes(sn.span)) : doc.snippets;
    const context = contextNode(doc);
    const details = detailsList(doc);
    const actions = el("div", { class: "actions" },
      toggle("Show context", "Hide context", context, "context-toggle"),
      toggle("Details", "Hide details", details, "details-toggle"),
      el("a", { href: documentUrl(result, doc), class: "open-doc", target: "_blank", rel: "noopener" },
        "Open document"));
    if (onLocate) {
      const locate = el("button", { type: "button", class: "link locate",
        title: "Highlight in the text only the spans this document contains" });
      setLocated(locate, Boolean(options.located));
      locate.addEventListener("click", () => onLocate(doc, locate));
      actions.prepend(locate);
    }
    return el("article", { class: `doc level-${doc.level}`, dataset: { doc: doc.doc } },
      el("header", {},
        el("span", { class: `badge badge-${doc.level}`, title: "relevance level" }, doc.level),
        el("h3", {}, docTitle(doc)),
        el("span", { class: "doc-badges" }),
        el("span", { class: "relevance", title: `BM25 ${doc.bm25.toFixed(2)}` },
          `${(doc.relevance * 100).toFixed(0)}%`)),
      sourceLine(doc),
      el("div", { class: "snippets" }, snippets.map(snippetNode)),
      actions, details, context);
  }

  return { card, setLocated, short, docTitle, documentUrl, sourceName };
})();
