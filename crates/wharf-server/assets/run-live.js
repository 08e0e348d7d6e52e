// The page of a run in progress follows it: every two seconds it fetches itself again and
// puts the new page's main part in place of its own (job statuses, the graph, gates,
// failed tests, artifacts), until the run has ended. Only a page of the same run replaces
// it: a session that ended (the sign-in page) or an error stops the following, and the
// note on the page says to reload. Without JavaScript the note says so too.
(function () {
  "use strict";
  var main = document.querySelector("main");
  if (!main || !document.getElementById("run-live")) return;
  var every = 2000, failures = 0;
  function again(delay) { setTimeout(tick, delay); }
  function tick() {
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.querySelector("main");
        if (!next || !next.querySelector("#run-status")) return; // not this run's page any more
        failures = 0;
        if (next.innerHTML !== main.innerHTML) main.innerHTML = next.innerHTML;
        if (next.querySelector("#run-live")) again(every);
      })
      .catch(function () {
        // The server restarting or the network away for a moment: try a few more times.
        if (++failures < 5) again(every * failures);
      });
  }
  again(every);
})();
