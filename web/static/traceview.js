/* Rendering of a trace: the response with its highlighted spans, and the document panel.
 * Used by the chat page and the trace page. All corpus text goes in as text nodes. */
"use strict";

const TraceView = (() => {
  const { el, clear, marked, plural } = CT;
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

  function spanTip(result, spanIndexes) {
    const lines = spanIndexes.map((i) => {
      const span = result.spans[i];
      return `\u201c${short(span.text)}\u201d occurs ${plural(span.count, "time")} in the corpus`;
    });
    lines.push("Click or press Enter to show its documents");
    return lines.join("\n");
  }

  /** The response text with clickable highlights; onSelect(spanIndexes, node). */
  function renderText(target, result, onSelect) {
    clear(target);
    const ranges = result.highlights.map((h, i) => ({ start: h.char_start, end: h.char_end, index: i }));
    target.append(marked(result.text, ranges, (m) => {
      const highlights = m.members.map((r) => result.highlights[r.index]);
      const spans = [...new Set(highlights.flatMap((h) => h.spans))];
      const level = bestLevel(highlights.map((h) => h.level));
      const counts = spans.map((i) => result.spans[i].count);
      const node = el("span", {
        class: `hl hl-${level}`, tabindex: "0", role: "button", "aria-pressed": "false",
        title: spanTip(result, spans), dataset: { level, count: Math.min(...counts), spans: spans.join(",") },
      });
      const activate = (event) => {
        event.preventDefault();
        onSelect(spans, node);
      };
      node.addEventListener("click", activate);
      node.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") activate(event);
      });
      return node;
    }));
  }

  function bestLevel(levels) {
    for (const level of ["high", "medium", "low"]) if (levels.includes(level)) return level;
    return "low";
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

  function docCard(result, doc, focusSpans) {
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
        el("a", { href: documentUrl(result, doc), class: "open-doc" }, "Open document")),
      context);
  }

  /** The document panel: every document of a trace, or those of one selected span. */
  class Panel {
    constructor(root) {
      this.root = root;
      this.title = root.querySelector(".panel-title");
      this.filterBar = root.querySelector(".panel-filter");
      this.list = root.querySelector(".panel-list");
      this.result = null;
      this.focus = null;
      this.selectedNode = null;
      this.filterBar.querySelector("button").addEventListener("click", () => this.select(null, null));
    }

    show(result) {
      this.result = result;
      this.select(null, null);
      // Other tabs of the panel (lexical, ...) listen for this to follow the same trace.
      this.root.dispatchEvent(new CustomEvent("trace-shown", { detail: result }));
      // Other tabs of the panel (influence.js) trace the same text their own way.
      this.root.dispatchEvent(new CustomEvent("panel:trace", { detail: result }));
    }

    /** Filter to the documents of these spans (null: all); `node` is the clicked span. */
    select(spans, node) {
      if (this.selectedNode) {
        this.selectedNode.classList.remove("selected");
        this.selectedNode.setAttribute("aria-pressed", "false");
      }
      if (node && node === this.selectedNode) { spans = null; node = null; }
      this.focus = spans;
      this.selectedNode = node;
      if (node) {
        node.classList.add("selected");
        node.setAttribute("aria-pressed", "true");
      }
      this.render();
    }

    render() {
      const result = this.result;
      clear(this.list);
      if (!result) {
        this.title.textContent = "Documents";
        this.filterBar.hidden = true;
        return;
      }
      const focus = this.focus;
      const docs = result.documents
        .filter((d) => !focus || d.spans.some((s) => focus.includes(s)))
        .sort((a, b) => b.relevance - a.relevance);
      this.title.textContent = `Documents (${docs.length})`;
      this.filterBar.hidden = !focus;
      if (focus) {
        const label = this.filterBar.querySelector(".filter-label");
        label.textContent = "Showing documents for \u201c" +
          short(focus.map((i) => result.spans[i].text).join(" \u2026 "), 80) + "\u201d";
      }
      if (!docs.length) {
        this.list.append(el("p", { class: "empty" },
          result.spans.length ? "No documents." : "No span of this text was found in the corpus."));
        return;
      }
      for (const doc of docs) this.list.append(docCard(result, doc, focus));
    }
  }

  function summary(result) {
    const ms = Object.values(result.timings_ms || {}).reduce((a, b) => a + b, 0);
    const parts = [plural(result.spans.length, "span"), plural(result.documents.length, "document"),
      `${ms.toFixed(0)} ms`];
    if (result.cached) parts.push("cached");
    return parts.join(" \u00b7 ");
  }

  return { renderText, Panel, summary, docTitle };
})();
