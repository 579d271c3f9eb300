/* Rendering of a trace: the response with its highlighted spans, and the document panel.
 * Used by the chat page and the trace page. All corpus text goes in as text nodes. */
"use strict";

const TraceView = (() => {
  const { el, clear, marked, plural } = CT;
  const { short, docTitle } = DocCards;

  function spanTip(result, spanIndexes) {
    const lines = spanIndexes.map((i) => {
      const span = result.spans[i];
      return `\u201c${short(span.text)}\u201d occurs ${plural(span.count, "time")} in the corpus`;
    });
    lines.push("Click or press Enter to show its documents");
    return lines.join("\n");
  }

  /** The response text with clickable highlights; onSelect(spanIndexes, node). With
   * `only` (span indexes), just those spans are highlighted, each as itself (the panel's
   * "Locate spans" of one document); otherwise the merged highlights of the whole trace. */
  function renderText(target, result, onSelect, only) {
    clear(target);
    target.traceView = { result, onSelect }; // the panel draws the text again to locate
    target.classList.toggle("locating", Boolean(only));
    const ranges = only
      ? only.map((i) => ({ start: result.spans[i].char_start, end: result.spans[i].char_end, span: i }))
      : result.highlights.map((h, i) => ({ start: h.char_start, end: h.char_end, index: i }));
    target.append(marked(result.text, ranges, (m) => {
      let spans;
      let levels;
      if (only) {
        spans = [...new Set(m.members.map((r) => r.span))];
        levels = spans.map((i) => result.spans[i].level);
      } else {
        const highlights = m.members.map((r) => result.highlights[r.index]);
        spans = [...new Set(highlights.flatMap((h) => h.spans))];
        levels = highlights.map((h) => h.level);
      }
      const level = bestLevel(levels);
      const counts = spans.map((i) => result.spans[i].count);
      const node = el("span", {
        class: `hl hl-${level}${only ? " located" : ""}`, tabindex: "0", role: "button",
        "aria-pressed": "false", title: spanTip(result, spans),
        dataset: { level, count: Math.min(...counts), spans: spans.join(",") },
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

  const GROUPS = { high: "High", medium: "Medium", low: "Low" };

  /** [level, documents] of each level that has documents, high first (OLMoTrace's panel). */
  function groups(docs) {
    return Object.keys(GROUPS)
      .map((level) => [level, docs.filter((d) => (d.level in GROUPS ? d.level : "low") === level)])
      .filter(([, group]) => group.length);
  }

  function bestLevel(levels) {
    for (const level of ["high", "medium", "low"]) if (levels.includes(level)) return level;
    return "low";
  }

  /** The document panel: every document of a trace, or those of one selected span. */
  class Panel {
    constructor(root) {
      this.root = root;
      this.title = root.querySelector(".panel-title");
      this.filterBar = root.querySelector(".panel-filter");
      this.list = root.querySelector(".panel-list");
      this.result = null;
      this.located = null; // the document whose spans alone are highlighted, if any
      this.focus = null;
      this.selectedNode = null;
      this.filterBar.querySelector("button").addEventListener("click", () => this.select(null, null));
      this.staleNote = el("p", { class: "panel-stale", hidden: true },
        "These documents belong to the previous answer; the new answer's come when it is complete.");
      this.filterBar.before(this.staleNote);
    }

    /** Mark the documents shown as those of an earlier answer (a new one is being written). */
    markStale(on) {
      const stale = Boolean(on && this.result);
      this.root.classList.toggle("stale", stale);
      this.staleNote.hidden = !stale;
    }

    /** Show the documents of `result`; `textRoot` is the element its text is drawn in. */
    show(result, textRoot) {
      if (this.located !== null) this.drawText(null); // the old text: every span again
      this.located = null;
      this.result = result;
      this.textRoot = textRoot || null;
      this.markStale(false);
      this.select(null, null);
      // Other tabs of the panel (lexical, ...) listen for this to follow the same trace.
      this.root.dispatchEvent(new CustomEvent("trace-shown", { detail: result }));
      // Other tabs of the panel (influence.js) trace the same text their own way.
      this.root.dispatchEvent(new CustomEvent("panel:trace", { detail: result }));
    }

    /** Highlight in the text only the spans of `doc` (again: all of them). */
    locate(doc) {
      if (!this.textRoot || !this.textRoot.traceView) return;
      this.located = this.located === doc.doc ? null : doc.doc;
      this.drawText(this.located === null ? null : doc.spans);
      for (const button of this.list.querySelectorAll("button.locate")) {
        DocCards.setLocated(button, Number(button.closest("article").dataset.doc) === this.located);
      }
      const first = this.located !== null && this.textRoot.querySelector(".hl");
      if (first) first.scrollIntoView({ block: "nearest" });
    }

    drawText(only) {
      const view = this.textRoot && this.textRoot.traceView;
      if (!view) return;
      this.selectedNode = null; // its node is drawn anew
      renderText(this.textRoot, view.result, view.onSelect, only);
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
      const onLocate = (doc) => this.locate(doc);
      for (const [level, group] of groups(docs)) {
        const section = el("section", { class: `doc-group group-${level}`, "aria-label": `${GROUPS[level]} relevance` },
          el("h3", { class: "group-title" }, `${GROUPS[level]} relevance `,
            el("span", { class: "muted" }, `(${group.length})`)));
        for (const doc of group) {
          section.append(DocCards.card(result, doc, { focus, onLocate, located: doc.doc === this.located }));
        }
        this.list.append(section);
      }
    }
  }

  function summary(result) {
    // `total` is the whole trace, measured apart; the steps add up to (about) it.
    const timings = result.timings_ms || {};
    const ms = "total" in timings ? timings.total
      : Object.values(timings).reduce((a, b) => a + b, 0);
    const parts = [plural(result.spans.length, "span"), plural(result.documents.length, "document"),
      `${ms.toFixed(0)} ms`];
    if (result.cached) parts.push("cached");
    return parts.join(" \u00b7 ");
  }

  return { renderText, Panel, summary };
})();
