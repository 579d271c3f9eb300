/* Query playground: count, next-token distribution (n-gram or ∞-gram), document search. */
"use strict";

(() => {
  const { el, clear, api, status, plural, visible, marked } = CT;
  const $ = (id) => document.getElementById(id);

  // The distribution is asked for with the server's whole max_support, so it is exact
  // whenever its support fits; "Top N" only chooses how many rows are shown.
  let maxSupport = 1000;
  api("/api/info").then((info) => {
    maxSupport = info.limits.max_support;
    $("index-info").textContent = `Index: ${plural(info.documents, "document")}, ` +
      `${plural(info.tokens, "token")} in ${plural(info.shards.length, "shard")}; ` +
      `tokenizer ${info.tokenizer.name} (${plural(info.vocab_size, "token")}).`;
  }).catch((error) => status($("index-info"), error));

  // Which spelling was answered ("the river" or " the river"), with both counts where
  // they differ: in most corpora a word inside a sentence follows a space.
  function variantNote(variants, used) {
    if (!variants || variants.length < 2) return "";
    const counts = variants.map((v) => `\u201c${visible(v.text)}\u201d ${v.count.toLocaleString("en")}`);
    if (variants.every((v) => v.count === variants[0].count)) return "";
    return `Counted as \u201c${visible(used)}\u201d (the spelling found more often); ${counts.join(", ")}.`;
  }

  function chips(ids, texts) {
    return el("div", { class: "chips" }, ids.map((id, i) =>
      el("span", { class: "chip", title: `token id ${id}` }, visible(texts[i]))));
  }

  $("count-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = clear($("count-result"));
    status($("count-status"), null, "Counting\u2026");
    try {
      const r = await api("/api/count", { query: $("count-query").value });
      status($("count-status"), null, "");
      out.append(el("p", { class: "big" }, plural(r.count, "occurrence")));
      const note = variantNote(r.variants, r.query_used);
      if (note) out.append(el("p", { class: "muted variants" }, note));
      out.append(
        el("p", { class: "muted" }, `${plural(r.tokens.length, "token")}:`), chips(r.tokens, r.token_texts));
    } catch (error) { status($("count-status"), error); }
  });

  // The width is set through the CSSOM: a style attribute would break the page's
  // Content-Security-Policy (style-src 'self', no inline styles).
  function bar(prob) {
    const node = el("span", { class: "bar" });
    node.style.width = `${Math.max(1, prob * 100)}%`;
    return node;
  }

  function ntdTable(ntd) {
    const rows = ntd.entries.map((e) => el("tr", {},
      el("td", { class: "tok" }, visible(e.token_text)), el("td", { class: "num" }, e.count.toLocaleString("en")),
      el("td", { class: "num" }, (e.prob * 100).toFixed(2) + "%"),
      el("td", {}, bar(e.prob))));
    return el("table", { class: "ntd" },
      el("thead", {}, el("tr", {}, el("th", {}, "next token"), el("th", {}, "count"), el("th", {}, "prob"), el("th", {}, ""))),
      el("tbody", {}, rows));
  }

  $("ntd-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = clear($("ntd-result"));
    const infgram = $("ntd-infgram").checked;
    const top = Number($("ntd-support").value) || 20;
    const body = { prompt: $("ntd-prompt").value, max_support: maxSupport };
    status($("ntd-status"), null, "Computing\u2026");
    try {
      let ntd;
      if (infgram) {
        const r = await api("/api/infgram", { ...body, mode: "ntd" });
        ntd = r.ntd;
        out.append(el("p", { class: "muted" }, `Backed off to the last ${plural(r.suffix_len, "token")}: `,
          el("q", {}, r.suffix_text)));
      } else ntd = await api("/api/ntd", body);
      status($("ntd-status"), null, "");
      const note = variantNote(ntd.variants, ntd.prompt_used);
      if (note) out.append(el("p", { class: "muted variants" }, note.replace("Counted", "Answered")));
      out.append(el("p", {}, `The prompt occurs ${plural(ntd.prompt_count, "time")} followed by a token.`));
      const shown = ntd.entries.slice(0, top);
      out.append(el("p", { class: "muted ntd-note" }, ntd.approx
        ? `More than ${plural(maxSupport, "distinct next token")}: the tokens listed were sampled ` +
          `(every count is exact); showing ${shown.length} of ${ntd.entries.length}.`
        : `Exact distribution of ${plural(ntd.entries.length, "next token")}; showing the top ${shown.length}.`));
      if (shown.length) out.append(ntdTable({ ...ntd, entries: shown }));
    } catch (error) { status($("ntd-status"), error); }
  });

  const PAGE = 10;
  let searchBody = null;

  function hitNode(hit) {
    const text = marked(hit.text, [{ start: hit.match_char_start, end: hit.match_char_end }], () => el("mark"));
    return el("li", { class: "hit" },
      el("a", { href: `/documents/${hit.doc}` }, docName(hit.doc, hit.meta)),
      el("p", { class: "snippet" }, "\u2026", text, "\u2026"));
  }

  function docName(doc, meta) {
    const name = meta && (meta.title || meta.id);
    return name ? `${name} (#${doc})` : `Document #${doc}`;
  }

  function docNode(d) {
    return el("li", { class: "hit" },
      el("a", { href: `/documents/${d.doc}` }, docName(d.doc, d.meta)),
      el("p", { class: "snippet" }, d.preview, "\u2026"));
  }

  async function runSearch(offset) {
    const out = clear($("search-result"));
    status($("search-status"), null, "Searching\u2026");
    try {
      const r = await api("/api/search", { ...searchBody, offset, limit: PAGE });
      const items = r.mode === "cnf" ? r.documents.map(docNode) : r.hits.map(hitNode);
      const what = r.mode === "cnf" ? "matching document" : "occurrence";
      status($("search-status"), null, `${plural(r.count, what)}${r.approx ? " (approximate)" : ""}`);
      out.append(el("ol", { class: "hits", start: offset + 1 }, items));
      $("search-pager").hidden = r.count <= PAGE;
      $("search-page").textContent = `${offset + 1}\u2013${Math.min(offset + PAGE, r.count)} of ${r.count.toLocaleString("en")}`;
      $("search-prev").disabled = offset === 0;
      $("search-next").disabled = offset + PAGE >= r.count;
      $("search-prev").onclick = () => runSearch(Math.max(0, offset - PAGE));
      $("search-next").onclick = () => runSearch(offset + PAGE);
    } catch (error) {
      $("search-pager").hidden = true;
      status($("search-status"), error);
    }
  }

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("search-query").value;
    const mode = document.querySelector("input[name=search-mode]:checked").value;
    if (mode === "cnf") {
      // Terms keep their inner spaces; each is searched as typed and with a leading
      // space (an OR inside its clause), so words inside sentences are found too.
      const clauses = text.split("\n").map((line) => line.split("|").map((t) => t.trim()).filter(Boolean)
        .flatMap((t) => [t, " " + t])).filter((c) => c.length);
      searchBody = { clauses };
    } else searchBody = { query: text };
    runSearch(0);
  });
})();
