// A unit page's missing on-demand sections: ask the server to compute each (POST), poll its
// state, fill the progress bar, and reload the page when every one is done.
"use strict";
(function () {
  const boxes = Array.from(document.querySelectorAll(".ondemand[data-compute]"));
  let left = boxes.length;
  function show(box, state) {
    box.querySelector("progress").value = state.progress || 0;
    box.querySelector(".status").textContent =
      state.state === "failed" ? "failed: " + state.error : Math.round(100 * (state.progress || 0)) + "%";
    box.dataset.state = state.state;
  }
  async function follow(box) {
    const url = box.dataset.compute;
    let resp = await fetch(url, { method: "POST" });
    for (;;) {
      if (!resp.ok) {
        const body = await resp.json().catch(() => ({}));
        show(box, { state: "failed", error: body.detail || resp.statusText });
        return;
      }
      const state = await resp.json();
      show(box, state);
      if (state.state === "done") {
        left -= 1;
        if (left === 0) location.reload();
        return;
      }
      if (state.state === "failed" || state.state === "missing") return;
      await new Promise((done) => setTimeout(done, 300));
      resp = await fetch(url);
    }
  }
  boxes.forEach(follow);
})();
