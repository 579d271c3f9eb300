/* corpustrace UI helpers shared by every page.
 * Corpus text is only ever inserted as text nodes (createTextNode / textContent):
 * never through innerHTML, so a document that holds markup shows as text. */
"use strict";

const CT = (() => {
  const TOKEN_KEY = "corpustrace-token";

  /** createElement with attributes and children (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  /** The server counts characters as Unicode code points; JS strings index UTF-16
   * units. Offsets from the API are therefore applied to Array.from(text). */
  function codePoints(text) {
    return Array.from(text || "");
  }

  /** A fragment of `text` with [start, end) code-point ranges wrapped in `make(range)`
   * elements (overlapping ranges are merged into one). */
  function marked(text, ranges, make) {
    const cps = codePoints(text);
    // Marks skip the whitespace at their edges: byte-level BPE tokens carry the space
    // before a word (" Tower"), which reads badly as part of a highlight.
    const trim = (r) => {
      let start = Math.max(0, r.start);
      let end = Math.min(cps.length, r.end);
      while (start < end && /\s/.test(cps[start])) start += 1;
      while (end > start && /\s/.test(cps[end - 1])) end -= 1;
      return { ...r, start, end };
    };
    const sorted = ranges
      .map(trim)
      .filter((r) => r.end > r.start)
      .sort((a, b) => a.start - b.start || b.end - a.end);
    const merged = [];
    for (const r of sorted) {
      const last = merged[merged.length - 1];
      if (last && r.start < last.end) {
        last.end = Math.max(last.end, r.end);
        last.members.push(r);
      } else merged.push({ start: r.start, end: r.end, members: [r] });
    }
    const frag = document.createDocumentFragment();
    let at = 0;
    for (const m of merged) {
      if (m.start > at) frag.append(document.createTextNode(cps.slice(at, m.start).join("")));
      const node = make(m);
      node.append(document.createTextNode(cps.slice(m.start, m.end).join("")));
      frag.append(node);
      at = m.end;
    }
    if (at < cps.length) frag.append(document.createTextNode(cps.slice(at).join("")));
    return frag;
  }

  function token() {
    try { return localStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; }
  }

  function setToken(value) {
    try { localStorage.setItem(TOKEN_KEY, value); } catch (_) { /* private mode */ }
  }

  function headers(json) {
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    const t = token();
    if (t) h["Authorization"] = "Bearer " + t;
    return h;
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function failure(response) {
    let code = "http_" + response.status;
    let message = response.statusText || "request failed";
    try {
      const body = await response.json();
      if (body && body.error) ({ code, message } = body.error);
    } catch (_) { /* not JSON */ }
    if (response.status === 401) showTokenBox();
    return new ApiError(response.status, code, message);
  }

  /** fetch() a JSON API route; throws ApiError with the server's code and message. */
  async function api(path, body, method) {
    const init = { method: method || (body === undefined ? "GET" : "POST"), headers: headers(body !== undefined) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    if (!response.ok) throw await failure(response);
    return response.json();
  }

  /** POST and read a text/event-stream answer, calling onEvent(name, data) per event.
   * Aborting `signal` (an AbortController's) closes the connection: the server stops. */
  async function stream(path, body, onEvent, signal) {
    const response = await fetch(path, {
      method: "POST", headers: headers(true), body: JSON.stringify(body), signal,
    });
    if (!response.ok) throw await failure(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
      if (done) break;
    }
  }

  function showTokenBox() {
    const box = document.getElementById("token-box");
    if (box) box.hidden = false;
  }

  function initTokenBox() {
    const box = document.getElementById("token-box");
    if (!box) return;
    if (document.body.dataset.tokenRequired === "true" && !token()) box.hidden = false;
    const input = box.querySelector("input");
    box.addEventListener("submit", (event) => {
      event.preventDefault();
      setToken(input.value.trim());
      box.hidden = true;
    });
  }

  /** Show an error (or clear it with null) in a status element. */
  function status(node, error, text) {
    clear(node);
    node.classList.toggle("error", Boolean(error));
    if (error) node.append(error.message || String(error));
    else if (text) node.append(text);
  }

  function plural(n, word) {
    return `${Number(n).toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
  }

  /** Whitespace made visible, for single tokens in tables and chips. */
  function visible(text) {
    return text.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
  }

  document.addEventListener("DOMContentLoaded", initTokenBox);

  return { el, clear, codePoints, marked, api, stream, status, plural, visible, ApiError };
})();
