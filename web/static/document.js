/* Full document view: the document (or a window of it) with every requested match marked. */
"use strict";

(() => {
  const { el, clear, api, status, marked, plural } = CT;
  const $ = (id) => document.getElementById(id);
  const doc = Number($("document").dataset.doc);
  const query = new URLSearchParams(location.search);
  const marks = query.getAll("mark");

  function pageUrl(start, end) {
    const params = new URLSearchParams();
    params.set("start", String(start));
    params.set("end", String(end));
    for (const m of marks) params.append("mark", m);
    return `/documents/${doc}?${params}`;
  }

  function showMeta(meta) {
    const list = clear($("doc-meta"));
    for (const [key, value] of Object.entries(meta)) {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      const dd = key === "url" && /^https?:\/\//i.test(text)
        ? el("dd", {}, el("a", { href: text, rel: "noopener noreferrer" }, text))
        : el("dd", {}, text);
      list.append(el("dt", {}, key), dd);
    }
    const title = meta.title || meta.id;
    if (title) $("doc-title").textContent = `${title} (document ${doc})`;
  }

  function showPager(r) {
    const size = r.end - r.start;
    const whole = r.start === 0 && r.end >= r.length;
    $("doc-pager").hidden = whole;
    if (whole) return;
    $("doc-range").textContent = `tokens ${r.start.toLocaleString("en")}\u2013${r.end.toLocaleString("en")} of ${r.length.toLocaleString("en")}`;
    const prev = $("doc-prev");
    const next = $("doc-next");
    prev.hidden = r.start === 0;
    next.hidden = r.end >= r.length;
    prev.href = pageUrl(Math.max(0, r.start - size), r.start);
    next.href = pageUrl(r.end, r.end + size);
  }

  async function load() {
    const params = new URLSearchParams();
    for (const key of ["start", "end"]) if (query.has(key)) params.set(key, query.get(key));
    for (const m of marks) params.append("mark", m);
    try {
      const r = await api(`/api/documents/${doc}?${params}`);
      showMeta(r.meta);
      showPager(r);
      const ranges = r.marks.map((m) => ({ start: m.char_start, end: m.char_end }));
      $("doc-text").append(marked(r.text, ranges, () => el("mark")));
      status($("doc-status"), null, `${plural(r.length, "token")}`);
      if (marks.length) {
        $("doc-marks").textContent = `${r.marks.length.toLocaleString("en")} match${r.marks.length === 1 ? "" : "es"} of ${plural(marks.length, "span")} marked.`;
      }
      const first = document.querySelector("#doc-text mark");
      if (first) first.scrollIntoView({ block: "center" });
    } catch (error) {
      status($("doc-status"), error);
    }
  }

  load();
})();
