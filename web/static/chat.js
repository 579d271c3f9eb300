/* Chat page: stream the model's answer, then show the trace of the finished answer. */
"use strict";

(() => {
  const { el, clear, stream, status } = CT;
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  const list = document.getElementById("messages");
  const statusLine = document.getElementById("chat-status");
  const select = document.getElementById("model-select");
  const panel = new TraceView.Panel(document.getElementById("doc-panel"));
  let conversation = [];
  let busy = false;

  function bubble(role, text) {
    const hint = list.querySelector(".hint");
    if (hint) hint.remove();
    const body = el("div", { class: "body" }, text);
    const node = el("div", { class: `msg msg-${role}` },
      el("div", { class: "who" }, role === "user" ? "You" : "Model"), body);
    list.append(node);
    node.scrollIntoView({ block: "end" });
    return { node, body };
  }

  function showTrace(target, trace) {
    TraceView.renderText(target.body, trace, (spans, span) => {
      if (panel.result !== trace) panel.show(trace);
      panel.select(spans, span);
    });
    const info = el("div", { class: "trace-info muted" }, TraceView.summary(trace));
    target.node.append(info);
    panel.show(trace);
  }

  async function ask(text) {
    busy = true;
    send.disabled = true;
    status(statusLine, null, "The model is writing\u2026");
    conversation.push({ role: "user", content: text });
    bubble("user", text);
    const answer = bubble("assistant", "");
    answer.node.classList.add("streaming");
    let reply = "";
    let failed = null;
    const body = { messages: conversation };
    if (select) body.model = select.value;
    try {
      await stream("/api/chat", body, (event, data) => {
        if (event === "delta") {
          reply += data.text;
          answer.body.textContent = reply;
        } else if (event === "trace") {
          status(statusLine, null, "");
          showTrace(answer, data);
        } else if (event === "error") {
          failed = new Error(data.message);
        }
      });
    } catch (error) {
      failed = error;
    }
    answer.node.classList.remove("streaming");
    if (reply) conversation.push({ role: "assistant", content: reply });
    else conversation.pop();
    if (failed) {
      answer.node.append(el("p", { class: "error" }, failed.message));
      status(statusLine, failed);
    } else status(statusLine, null, "");
    busy = false;
    send.disabled = false;
    input.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    ask(text);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.getElementById("chat-reset").addEventListener("click", () => {
    if (busy) return;
    conversation = [];
    clear(list);
    panel.show(null);
    input.focus();
  });
})();
