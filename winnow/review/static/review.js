// Winnow review page. Every value from the server is shown with textContent,
// never as HTML: document text is crawled from strangers.
"use strict";
(function () {
  const token = document.querySelector('meta[name="review-token"]').content;
  const $ = (id) => document.getElementById(id);
  let state = null;
  let current = 0;
  let busy = false;

  function el(tag, text) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number" && !Number.isInteger(value)) return value.toPrecision(4);
    return String(value);
  }

  function status(message) { $("status").textContent = message || ""; }

  // The first screen holds the document, its verdict and the label controls;
  // the record's other fields and its signals (often 60 rows) fold away below.
  function collapsible(id, title, content) {
    const box = el("details");
    box.id = id;
    box.append(el("summary", title), content);
    return box;
  }

  function foldDetails() {
    const table = $("signals");
    const heading = table.previousElementSibling;
    if (heading && heading.tagName === "H2") heading.remove();
    const signals = collapsible("signals-box", "Signals and scores", el("div"));
    table.replaceWith(signals);
    signals.append(table);
    const fields = el("dl");
    fields.id = "fields";
    $("meta").after(collapsible("fields-box", "Record fields", fields));
  }

  function fill(list, rows) {
    list.replaceChildren();
    for (const [key, value] of rows) { list.append(el("dt", key), el("dd", value)); }
  }

  function showProgress() {
    $("progress").textContent = state.labelled + " / " + state.total + " labelled";
    $("position").textContent = state.total ? "item " + (current + 1) + " of " + state.total : "empty sample";
  }

  async function api(path, options) {
    const response = await fetch(path, options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  async function show(index) {
    if (!state.total) { status("The sample is empty."); showProgress(); return; }
    current = Math.max(0, Math.min(state.total - 1, index));
    const doc = await api("/api/items/" + current);
    const verdict = doc.verdict === "kept" ? "kept" : doc.verdict + " by " + doc.stage + ": " + doc.reason;
    fill($("meta"), [["verdict", verdict], ["stratum", doc.stratum], ["id", doc.id]]);
    document.body.dataset.verdict = doc.verdict === "kept" ? "kept" : "rejected";
    const fields = Object.entries(doc.fields).filter(([key]) => key !== "stage" && key !== "reason");
    fill($("fields"), fields.map(([key, value]) => [key, fmt(value)]));
    $("fields-box").firstChild.textContent = "Record fields (" + fields.length + ")";
    $("text").textContent = doc.text === null ? "(no text stored for this record)" : doc.text;
    const body = $("signals").tBodies[0];
    body.replaceChildren();
    const values = Object.entries(doc.scores).concat(Object.entries(doc.signals));
    for (const [key, value] of values) {
      const tr = el("tr");
      tr.append(el("th", key), el("td", fmt(value)));
      body.append(tr);
    }
    if (!values.length) body.append(el("tr", "no signals"));
    $("signals-box").firstChild.textContent = "Signals and scores (" + values.length + ")";
    $("note").value = doc.note || "";
    $("current-label").textContent = doc.label ? "your label: " + doc.label : "not labelled yet";
    document.body.dataset.label = doc.label || "";
    showProgress();
  }

  async function label(value) {
    if (busy || !state.total) return;
    busy = true;
    try {
      const progress = await api("/api/items/" + current + "/label", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Review-Token": token },
        body: JSON.stringify({ label: value, note: $("note").value }),
      });
      state.labelled = progress.labelled;
      state.items[current].label = value;
      status("labelled " + value);
      await show(current + 1 < state.total ? current + 1 : current);
    } catch (err) {
      status("not saved: " + err.message);
    } finally {
      busy = false;
    }
  }

  const KEYS = { g: () => label("good"), b: () => label("bad"), s: () => label("skip"),
    n: () => show(current + 1), ArrowRight: () => show(current + 1),
    p: () => show(current - 1), ArrowLeft: () => show(current - 1) };

  document.addEventListener("keydown", (event) => {
    if (event.target === $("note")) {
      if (event.key === "Escape") $("note").blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/") { event.preventDefault(); $("note").focus(); return; }
    const action = KEYS[event.key];
    if (action) { event.preventDefault(); action().catch((err) => status(err.message)); }
  });
  for (const button of document.querySelectorAll("button[data-label]")) {
    button.addEventListener("click", () => label(button.dataset.label));
  }
  $("next").addEventListener("click", () => show(current + 1));
  $("prev").addEventListener("click", () => show(current - 1));

  foldDetails();
  api("/api/state").then((s) => { state = s; document.body.dataset.ready = "1"; return show(s.position); })
    .catch((err) => status("could not load the sample: " + err.message));
})();
