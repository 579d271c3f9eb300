/* Trace page: trace pasted text (and an optional prompt), then show spans and documents. */
"use strict";

(() => {
  const { api, status } = CT;
  const form = document.getElementById("trace-form");
  const statusLine = document.getElementById("trace-status");
  const resultBox = document.getElementById("trace-result");
  const output = document.getElementById("trace-output");
  const summary = document.getElementById("trace-summary");
  const submit = document.getElementById("trace-submit");
  const panel = new TraceView.Panel(document.getElementById("doc-panel"));
  const NUMBERS = ["span_density", "min_span_length", "max_frequency", "max_documents_per_span",
    "context_tokens", "snippet_tokens", "seed"];

  function params() {
    const body = {};
    for (const name of NUMBERS) {
      const value = form.elements[name].value.trim();
      if (value !== "") body[name] = Number(value);
    }
    const delimiters = form.elements.delimiters.value.trim();
    if (delimiters !== "") {
      body.delimiters = delimiters.split(/\s+/).map((d) => d.replace(/\\n/g, "\n").replace(/\\t/g, "\t"));
    }
    body.word_boundaries = form.elements.word_boundaries.checked;
    if (form.elements.ranking.value) body.ranking = form.elements.ranking.value;
    return body;
  }

  /** Show a trace result, or with null clear the text, the summary and the documents. */
  function showResult(result) {
    resultBox.hidden = !result;
    if (result) {
      TraceView.renderText(output, result, (spans, node) => panel.select(spans, node));
      summary.textContent = TraceView.summary(result);
    } else {
      CT.clear(output);
      summary.textContent = "";
    }
    panel.show(result, output);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      prompt: document.getElementById("trace-prompt").value,
      response: document.getElementById("trace-response").value,
      ...params(),
    };
    submit.disabled = true;
    status(statusLine, null, "Tracing\u2026");
    try {
      showResult(await api("/api/trace", body));
      status(statusLine, null, "");
      resultBox.scrollIntoView({ block: "nearest" });
    } catch (error) {
      showResult(null); // the previous result must not stand under this error
      status(statusLine, error);
    } finally {
      submit.disabled = false;
    }
  });
})();
