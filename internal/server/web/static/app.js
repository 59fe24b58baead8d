// patchpilot dashboard: live updates of a rollout's page. The page is
// complete without this script; with it, each event of the rollout (from
// the server-sent event stream /ui/events) makes the page fetch its live
// fragment again and swap it in.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch) {
    return;
  }
  var id = live.getAttribute("data-rollout");
  if (!id || live.getAttribute("data-live") !== "true") {
    return;
  }
  var fragment = "/ui/rollouts/" + encodeURIComponent(id) + "/live";
  var pending = false;
  var busy = false;
  function refresh() {
    if (busy) {
      pending = true;
      return;
    }
    busy = true;
    fetch(fragment, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) {
        if (!res.ok) {
          throw new Error("status " + res.status);
        }
        return res.text();
      })
      .then(function (html) {
        // Keep the evidence a reader opened open across the swap.
        var open = [];
        live.querySelectorAll("details").forEach(function (d, i) {
          if (d.open) {
            open.push(i);
          }
        });
        live.innerHTML = html;
        var all = live.querySelectorAll("details");
        open.forEach(function (i) {
          if (all[i]) {
            all[i].open = true;
          }
        });
        live.setAttribute("data-updated", new Date().toISOString());
      })
      .catch(function () { /* the next event tries again; the refresh link still works */ })
      .then(function () {
        busy = false;
        if (pending) {
          pending = false;
          refresh();
        }
      });
  }
  var timer = null;
  var after = live.getAttribute("data-after") || "0";
  var es = new EventSource("/ui/events?rollout=" + encodeURIComponent(id) + "&after=" + encodeURIComponent(after));
  es.onmessage = schedule;
  ["rollout.state", "rollout.stage", "rollout.host", "rollout.gate", "rollout.approved", "rollout.incident",
   "rollout.request", "rollout.adaptive", "rollout.created", "rollout.lease"].forEach(function (k) {
    es.addEventListener(k, schedule);
  });
  function schedule() {
    if (timer) {
      return;
    }
    timer = setTimeout(function () { timer = null; refresh(); }, 250);
  }
})();
