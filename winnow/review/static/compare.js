// Winnow blind comparison page. Generations are shown with textContent only;
// the run names come from the server only after every item has a vote.
"use strict";
(function () {
  const token = document.querySelector('meta[name="review-token"]').content;
  const $ = (id) => document.getElementById(id);
  let state = null;
  let current = 0;
  let busy = false;

  function status(message) { $("status").textContent = message || ""; }

  async function api(path, options) {
    const response = await fetch(path, options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  function pct(x) { return x === null ? "–" : (100 * x).toFixed(1) + "%"; }

  async function reveal() {
    const r = await api("/api/reveal");
    let text = "A = " + r.run_a + ", B = " + r.run_b + ". A won " + r.a_wins + ", B won " + r.b_wins +
      ", " + r.ties + " tie(s). A's win rate over decisive votes: " + pct(r.a_win_rate);
    if (r.a_win_rate_ci) text += " (95% interval " + pct(r.a_win_rate_ci[0]) + " to " + pct(r.a_win_rate_ci[1]) + ")";
    $("result").textContent = text;
    $("reveal").hidden = false;
  }

  async function show(index) {
    current = Math.max(0, Math.min(state.total - 1, index));
    const item = await api("/api/items/" + current);
    $("prompt").textContent = item.prompt === "" ? "(no prompt: a fresh document)" : item.prompt;
    $("left").textContent = item.left;
    $("right").textContent = item.right;
    $("note").value = "";
    $("current-vote").textContent = item.vote ? "your vote: " + item.vote : "no vote yet";
    $("progress").textContent = state.voted + " / " + state.total + " voted";
    $("position").textContent = "item " + (current + 1) + " of " + state.total;
  }

  async function vote(side) {
    if (busy) return;
    busy = true;
    try {
      state = Object.assign(state, await api("/api/items/" + current + "/vote", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Review-Token": token },
        body: JSON.stringify({ vote: side, note: $("note").value }),
      }));
      status("voted " + side);
      await show(current + 1 < state.total ? current + 1 : current);
      if (state.done) await reveal();
    } catch (err) {
      status("not saved: " + err.message);
    } finally {
      busy = false;
    }
  }

  const KEYS = { "1": () => vote("left"), "2": () => vote("right"), "0": () => vote("tie"),
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
  for (const button of document.querySelectorAll("button[data-vote]")) {
    button.addEventListener("click", () => vote(button.dataset.vote));
  }
  $("next").addEventListener("click", () => show(current + 1));
  $("prev").addEventListener("click", () => show(current - 1));

  api("/api/state").then(async (s) => {
    state = s;
    document.body.dataset.ready = "1";
    await show(s.position);
    if (s.done) await reveal();
  }).catch((err) => status("could not load the comparison: " + err.message));
})();
