// The job page's live log: follows the job's Server-Sent Events stream from where the
// server-rendered page ends (`?from=` in data-stream), appends each step's bytes as they
// arrive, and resumes after a dropped connection with Last-Event-ID (EventSource does that
// itself). When the server says the follower is far behind, the missing range is fetched
// from the stored log and the stream is opened again after it. Text is escaped and ANSI
// colours become classes by the same rules as the server's (src/ui/ansi.rs).
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !log.dataset.stream) return;

  function esc(t) {
    return t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  // The colour state carries over from one chunk to the next, per step.
  var styles = {};
  function classes(st) {
    var c = [];
    if (st.fg !== null) c.push("f" + st.fg);
    if (st.bg !== null) c.push("b" + st.bg);
    if (st.bo) c.push("bo"); if (st.di) c.push("di"); if (st.it) c.push("it"); if (st.un) c.push("un");
    return c.join(" ");
  }
  function apply(st, params) {
    var codes = params === "" ? [0] : params.split(";").map(function (p) { return parseInt(p, 10) || 0; });
    for (var i = 0; i < codes.length; i++) {
      var c = codes[i];
      if (c === 0) { st.fg = null; st.bg = null; st.bo = st.di = st.it = st.un = false; }
      else if (c === 1) st.bo = true; else if (c === 2) st.di = true;
      else if (c === 3) st.it = true; else if (c === 4) st.un = true;
      else if (c === 22) { st.bo = false; st.di = false; }
      else if (c === 23) st.it = false; else if (c === 24) st.un = false;
      else if (c >= 30 && c <= 37) st.fg = c - 30; else if (c === 39) st.fg = null;
      else if (c >= 40 && c <= 47) st.bg = c - 40; else if (c === 49) st.bg = null;
      else if (c >= 90 && c <= 97) st.fg = c - 90 + 8; else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
      else if (c === 38 || c === 48) {
        var colour = null;
        if (codes[i + 1] === 5) { var n = codes[i + 2] || 0; colour = n < 16 ? n : 7; i += 2; }
        else if (codes[i + 1] === 2) {
          var r = codes[i + 2] || 0, g = codes[i + 3] || 0, b = codes[i + 4] || 0;
          colour = (r > 85 ? 1 : 0) | (g > 85 ? 2 : 0) | (b > 85 ? 4 : 0);
          if (Math.max(r, g, b) > 170) colour += 8;
          i += 4;
        }
        if (c === 38) st.fg = colour; else st.bg = colour;
      }
    }
  }
  function toHtml(step, text) {
    var st = styles[step] || (styles[step] = { fg: null, bg: null, bo: false, di: false, it: false, un: false });
    var out = "", open = classes(st);
    if (open) out += '<span class="' + open + '">';
    var re = /\x1b\[([0-9;]*)([@-~])|\x1b\][^\x07]*(\x07|\x1b\\)|\x1b.|[\x00-\x08\x0b-\x1f\x7f]/g;
    var last = 0, m;
    while ((m = re.exec(text)) !== null) {
      out += esc(text.slice(last, m.index));
      last = re.lastIndex;
      if (m[2] === "m") {
        apply(st, m[1]);
        if (open) out += "</span>";
        open = classes(st);
        if (open) out += '<span class="' + open + '">';
      }
    }
    out += esc(text.slice(last));
    if (open) out += "</span>";
    return out;
  }

  function section(step, name) {
    var s = document.getElementById("step-" + step);
    if (!s) {
      s = document.createElement("section");
      s.className = "step s-running";
      s.id = "step-" + step;
      s.dataset.step = step;
      var h = document.createElement("h2");
      var badge = document.createElement("span");
      badge.className = "badge s-running";
      badge.textContent = "running";
      h.appendChild(badge);
      h.appendChild(document.createTextNode(" " + (name || "")));
      var pre = document.createElement("pre");
      pre.className = "output";
      s.appendChild(h);
      s.appendChild(pre);
      log.appendChild(s);
    }
    return s;
  }
  function setStatus(el, status) {
    var badge = el.querySelector(".badge");
    if (badge) { badge.className = "badge s-" + status; badge.textContent = status; }
    el.className = el.className.replace(/\bs-[a-z_]+/, "s-" + status);
  }
  function append(step, html) {
    var pre = section(step).querySelector("pre.output");
    var follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.insertAdjacentHTML("beforeend", html);
    if (follow) pre.scrollTop = pre.scrollHeight;
  }
  function decode(d) {
    if (typeof d.text === "string") return d.text;
    var bin = atob(d.base64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new TextDecoder("utf-8").decode(bytes);
  }

  function open(url) {
    var es = new EventSource(url);
    es.addEventListener("step", function (e) {
      var d = JSON.parse(e.data);
      setStatus(section(d.step, d.name), "running");
    });
    es.addEventListener("log", function (e) {
      var d = JSON.parse(e.data);
      append(d.step, toHtml(d.step, decode(d)));
    });
    es.addEventListener("step-end", function (e) {
      var d = JSON.parse(e.data);
      setStatus(section(d.step), d.status);
    });
    es.addEventListener("behind", function (e) {
      // Far behind: read the stored bytes by range, then follow again after them.
      es.close();
      var d = JSON.parse(e.data);
      fetch(d.url, { headers: { Range: "bytes=" + d.from + "-" + (d.to - 1) }, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (t) {
          append(d.step, toHtml(d.step, t));
          open(base + "?from=" + encodeURIComponent(d.step + ":b:" + d.to));
        });
    });
    es.addEventListener("end", function (e) {
      es.close();
      var d = JSON.parse(e.data);
      var js = document.getElementById("job-status");
      if (js && d.status) { js.className = "badge s-" + d.status; js.textContent = d.status; }
      var note = document.getElementById("live-note");
      if (note) note.textContent = d.status ? "The job ended: " + d.status + "." : (d.error || "The stream ended.");
    });
  }
  var base = log.dataset.stream.split("?")[0];
  open(log.dataset.stream);
})();
