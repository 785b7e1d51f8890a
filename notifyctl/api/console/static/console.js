// notifyctl console: a few lines of progressive enhancement. Every page works without them.
// - times: each <time datetime="..."> is shown in the browser's timezone (UTC stays on hover);
// - live parts: an element with data-refresh="ms" is fetched again every ms milliseconds
//   (the same URL with ?fragment=1) and replaced, so the overview updates without a reload;
// - confirmations: a form with data-confirm asks before it is sent.
"use strict";

function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) continue;
    el.title = el.getAttribute("datetime");
    el.textContent = when.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }
}

function refresh(el) {
  const every = Number(el.dataset.refresh);
  if (!every) return;
  const url = new URL(window.location.href);
  url.searchParams.set("fragment", "1");
  let busy = false;
  setInterval(async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const answer = await fetch(url, {credentials: "same-origin", cache: "no-store"});
      if (answer.ok) {
        el.innerHTML = await answer.text();
        localTimes(el);
        el.dataset.refreshed = String(Date.now());
      }
    } catch (e) {
      // the next tick tries again
    } finally {
      busy = false;
    }
  }, every);
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  for (const el of document.querySelectorAll("[data-refresh]")) refresh(el);
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  for (const box of document.querySelectorAll("input[data-select-all]")) {
    box.addEventListener("change", () => {
      for (const other of document.querySelectorAll("input[name=id]")) other.checked = box.checked;
    });
  }
});
