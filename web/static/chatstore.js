/* The chat's conversation kept in the tab's sessionStorage, so that it survives a reload,
 * Back/Forward and a visit to another page of the site (it ends with the tab).
 * A turn is {role, content, trace?, note?}: `trace` is the trace result shown under an
 * answer, `note` a line such as "Stopped" or "Cut at the token limit". */
"use strict";

const ChatStore = (() => {
  const KEY = "corpustrace-chat";

  function load() {
    try {
      const data = JSON.parse(sessionStorage.getItem(KEY) || "null");
      return data && Array.isArray(data.turns) ? data.turns : [];
    } catch (_) {
      return [];
    }
  }

  /** Save the turns; when the traces do not fit in the storage, drop the oldest first. */
  function save(turns) {
    const copy = turns.map((t) => ({ ...t }));
    for (;;) {
      try {
        sessionStorage.setItem(KEY, JSON.stringify({ turns: copy }));
        return true;
      } catch (_) {
        const withTrace = copy.find((t) => t.trace);
        if (!withTrace) return false; // storage unavailable: the page still works without it
        delete withTrace.trace;
      }
    }
  }

  function clear() {
    try { sessionStorage.removeItem(KEY); } catch (_) { /* storage unavailable */ }
  }

  return { load, save, clear };
})();
