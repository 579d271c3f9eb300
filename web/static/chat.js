/* Chat page: stream the model's answer, then show the trace of the finished answer.
 * The conversation lives in ChatStore (sessionStorage): it is drawn again on reload.
 * Stop closes the stream (the server then stops the model) and traces what was written. */
"use strict";

(() => {
  const { el, clear, stream, status, api } = CT;
  const $ = (id) => document.getElementById(id);
  const form = $("chat-form");
  const input = $("chat-input");
  const send = $("chat-send");
  const stopButton = $("chat-stop");
  const list = $("messages");
  const hint = list.querySelector(".hint");
  const statusLine = $("chat-status");
  const select = $("model-select");
  const confirmBar = $("chat-confirm");
  const panel = new TraceView.Panel($("doc-panel"));
  const STATES = {
    loading: "Loading the model (its first answer takes a while)\u2026",
    waiting: "Waiting for the model\u2026",
    writing: "The model is writing\u2026",
    tracing: "Tracing the answer in the corpus\u2026",
  };
  let turns = ChatStore.load();
  let current = null; // the answer being written: {controller, turn, answer}

  /** Run `change` (which makes the list longer) and keep the list's end in view if the
   * reader was there: one who scrolled up to read stays where they are. */
  function follow(change) {
    const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    change();
    if (atEnd) list.scrollTop = list.scrollHeight;
  }

  function bubble(role, text) {
    if (hint.parentNode) hint.remove();
    const body = el("div", { class: "body" }, text);
    const node = el("div", { class: `msg msg-${role}` },
      el("div", { class: "who" }, role === "user" ? "You" : "Model"), body);
    list.append(node);
    return { node, body };
  }

  function showTrace(target, trace, quiet) {
    TraceView.renderText(target.body, trace, (spans, span) => {
      if (panel.result !== trace) panel.show(trace, target.body);
      panel.select(spans, span);
    });
    target.node.append(el("div", { class: "trace-info muted" }, TraceView.summary(trace)));
    if (!quiet) panel.show(trace, target.body);
  }

  function addNotes(target, turn) {
    if (turn.note) target.node.append(el("p", { class: "note muted" }, turn.note));
    if (turn.error) target.node.append(el("p", { class: "error" }, turn.error));
  }

  function restore() {
    let last = null;
    for (const turn of turns) {
      const target = bubble(turn.role, turn.content);
      if (turn.trace) {
        showTrace(target, turn.trace, true);
        last = [turn.trace, target.body];
      }
      addNotes(target, turn);
    }
    if (last) panel.show(...last); // the panel (and its other tabs) once, for the last answer
    list.scrollTop = list.scrollHeight;
  }

  /** The messages sent to the model: a question whose answer failed (no text) is left out. */
  function history() {
    const messages = [];
    turns.forEach((turn, i) => {
      const next = turns[i + 1];
      if (turn.role === "user" && next && next.role === "assistant" && !next.content) return;
      if (turn.content) messages.push({ role: turn.role, content: turn.content });
    });
    return messages;
  }

  function setBusy(on) {
    send.disabled = on;
    send.hidden = on;
    stopButton.hidden = !on;
  }

  function onEvent(job, event, data) {
    const { turn, answer } = job;
    if (event === "status") status(statusLine, null, STATES[data.state] || "");
    else if (event === "delta") {
      if (!turn.content) status(statusLine, null, STATES.writing);
      turn.content += data.text;
      follow(() => { answer.body.textContent = turn.content; });
    } else if (event === "finish" && data.reason === "length") {
      turn.note = `Cut at the limit of ${data.max_tokens} tokens.`;
    } else if (event === "trace") {
      turn.trace = data;
      showTrace(answer, data);
    } else if (event === "error") turn.error = data.message;
  }

  async function ask(text) {
    const question = { role: "user", content: text };
    const turn = { role: "assistant", content: "" };
    const body = { messages: [...history(), question] };
    if (select) body.model = select.value;
    turns.push(question);
    ChatStore.save(turns);
    bubble("user", text);
    const answer = bubble("assistant", "");
    answer.node.classList.add("streaming");
    list.scrollTop = list.scrollHeight; // a new question brings the reader to the end
    const job = { controller: new AbortController(), turn, answer, stopped: false };
    current = job;
    setBusy(true);
    panel.markStale(true);
    status(statusLine, null, STATES.waiting);
    try {
      await stream("/api/chat", body, (event, data) => onEvent(job, event, data), job.controller.signal);
    } catch (error) {
      if (!job.stopped) turn.error = error.message;
    }
    if (current !== job) return; // "New chat" threw this conversation away
    answer.node.classList.remove("streaming");
    if (job.stopped) await traceStopped(job, text);
    turns.push(turn);
    ChatStore.save(turns);
    follow(() => addNotes(answer, turn));
    status(statusLine, turn.error ? new Error(turn.error) : null, "");
    current = null;
    setBusy(false);
    input.focus();
  }

  /** A stopped answer is traced as far as it was written, like a finished one. */
  async function traceStopped(job, prompt) {
    const { turn, answer } = job;
    turn.note = "Stopped.";
    if (!turn.content.trim()) return;
    status(statusLine, null, STATES.tracing);
    try {
      turn.trace = await api("/api/trace", { prompt, response: turn.content });
      if (current === job) showTrace(answer, turn.trace);
    } catch (error) {
      turn.error = error.message;
    }
  }

  function stop() {
    if (!current) return;
    current.stopped = true;
    current.controller.abort();
  }

  function reset() {
    if (current) {
      current.stopped = true;
      current.controller.abort();
      current = null;
      setBusy(false);
    }
    turns = [];
    ChatStore.clear();
    clear(list).append(hint);
    panel.show(null);
    confirmBar.hidden = true;
    status(statusLine, null, "");
    input.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || current) return;
    input.value = "";
    confirmBar.hidden = true;
    ask(text);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  stopButton.addEventListener("click", stop);
  // "New chat" asks first (in the page, not a browser dialog) when there is something to
  // lose; while an answer is written, discarding also stops it.
  $("chat-reset").addEventListener("click", () => {
    if (!turns.length && !current) { reset(); return; }
    confirmBar.hidden = false;
    $("chat-discard").focus();
  });
  $("chat-discard").addEventListener("click", reset);
  $("chat-keep").addEventListener("click", () => {
    confirmBar.hidden = true;
    input.focus();
  });

  // Leaving the page while an answer is written keeps what was written of it.
  window.addEventListener("pagehide", () => {
    if (!current) return;
    ChatStore.save([...turns, { ...current.turn, note: "Interrupted when the page was left." }]);
  });

  restore();
})();
