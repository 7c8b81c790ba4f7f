/* sops operator pages: graph navigation, live node states, the node panel and actions.
 * Plain script, no build step, no library. The server draws the graph (SVG in the HTML);
 * this file only changes data-state attributes, loads the node panel and posts actions. */
(function () {
  "use strict";

  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-autosubmit]")) e.target.form.submit();
  });

  var svg = document.getElementById("graph");
  var graph = svg ? setupGraph(svg) : null;
  var cfgEl = document.getElementById("page-config");
  if (graph && cfgEl) setupPage(JSON.parse(cfgEl.textContent), graph);
  if (graph && window.performance && performance.mark) {
    performance.mark("graph-ready");
  }

  /* --- the graph: zoom, focus, keyboard ------------------------------------------------ */
  function setupGraph(svg) {
    var wrap = document.getElementById("graph-wrap");
    var W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
    var scale = 1;
    var nodes = Array.prototype.slice.call(svg.querySelectorAll(".node"));
    var byKey = new Map();
    nodes.forEach(function (n) { byKey.set(n.dataset.key, n); });
    // Tab enters the graph at the start event (frames come first in the markup).
    var first = svg.querySelector('.node[data-type="EmptyStartEvent"]') || nodes[0] || null;
    var current = first;
    if (current) current.setAttribute("tabindex", "0");
    var centres = null;
    var listeners = [];

    function zoom(s) {
      scale = Math.max(0.02, Math.min(3, s));
      svg.setAttribute("width", Math.round(W * scale));
      svg.setAttribute("height", Math.round(H * scale));
    }
    document.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var how = b.dataset.zoom;
        if (how === "in") zoom(scale * 1.25);
        else if (how === "out") zoom(scale / 1.25);
        else if (how === "reset") zoom(1);
        else zoom(Math.min((wrap.clientWidth - 8) / W, (wrap.clientHeight - 8) / H, 1));
      });
    });

    // Start fitted when the whole graph fits at a still readable size; larger graphs scroll.
    var fit = Math.min((wrap.clientWidth - 8) / W, 1);
    if (fit < 1 && fit >= 0.6) zoom(fit);

    function centreOf(n) {
      var m = /translate\(([-\d.]+)[ ,]+([-\d.]+)\)/.exec(n.getAttribute("transform") || "");
      var b = n.getBBox();
      var x = m ? +m[1] : 0, y = m ? +m[2] : 0;
      // A subprocess frame is entered from its title bar, not its middle.
      if (n.classList.contains("frame")) return [x + 20, y + 15];
      return [x + b.x + b.width / 2, y + b.y + b.height / 2];
    }

    function focusNode(n) {
      if (!n) return;
      if (current) current.setAttribute("tabindex", "-1");
      current = n;
      n.setAttribute("tabindex", "0");
      n.focus();
      if (n.scrollIntoView) n.scrollIntoView({block: "nearest", inline: "nearest"});
    }

    function step(dx, dy) {
      if (!current) return;
      if (!centres) { centres = new Map(); nodes.forEach(function (n) { centres.set(n, centreOf(n)); }); }
      var c = centres.get(current), best = null, bestScore = Infinity;
      nodes.forEach(function (n) {
        if (n === current) return;
        var p = centres.get(n), ax = p[0] - c[0], ay = p[1] - c[1];
        var along = ax * dx + ay * dy, across = Math.abs(ax * dy - ay * dx);
        if (along <= 1) return;
        var score = along + 2.5 * across;
        if (score < bestScore) { bestScore = score; best = n; }
      });
      focusNode(best);
    }

    function open(n) {
      focusNode(n);
      listeners.forEach(function (fn) { fn(n.dataset.key, n); });
    }

    svg.addEventListener("click", function (e) {
      var n = e.target.closest(".node");
      if (n) open(n);
    });
    svg.addEventListener("keydown", function (e) {
      var n = e.target.closest(".node");
      if (!n) return;
      var moves = {ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowDown: [0, 1], ArrowUp: [0, -1]};
      if (moves[e.key]) { e.preventDefault(); current = n; step(moves[e.key][0], moves[e.key][1]); }
      else if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(n); }
      else if (e.key === "Home") { e.preventDefault(); focusNode(first); }
    });

    return {byKey: byKey, nodes: nodes, focusNode: focusNode, onOpen: function (fn) { listeners.push(fn); }};
  }

  /* --- task and template pages: node panel; on a task, live states and actions ------------ */
  function setupPage(cfg, graph) {
    var panel = document.getElementById("node-panel");
    var status = document.getElementById("action-status");
    var openKey = null, timer = null, inflight = false, ended = cfg.ended;
    document.body.dataset.taskState = (document.querySelector('[data-field="state"]') || {}).textContent || "";

    function setState(el, st) {
      if (el.dataset.state === st) return false;
      el.dataset.state = st;
      el.setAttribute("aria-label", el.dataset.label + ", " + st);
      var t = el.querySelector(".st");
      if (t) t.textContent = st;
      return true;
    }

    function apply(d) {
      var panelStale = false;
      graph.byKey.forEach(function (el, key) {
        if (setState(el, d.nodes[key] || d.unreached) && key === openKey) panelStale = true;
      });
      Object.keys(d.header).forEach(function (f) {
        var el = document.querySelector('[data-field="' + f + '"]');
        if (!el) return;
        el.textContent = d.header[f] || "—";
        if (f === "state") el.dataset.state = d.header[f];
      });
      document.querySelectorAll("[data-task-action]").forEach(function (form) {
        form.hidden = d.actions.indexOf(form.dataset.taskAction) < 0;
      });
      document.body.dataset.taskState = d.state;
      if (panelStale) loadPanel(openKey, false);
      if (d.ended) { ended = true; stop(); }
    }

    function poll() {
      if (inflight || !cfg.status) return Promise.resolve();
      inflight = true;
      return fetch(cfg.status, {headers: {Accept: "application/json"}, cache: "no-store", credentials: "same-origin"})
        .then(function (r) {
          if (r.status === 401 || r.status === 403 || r.status === 404) { stop(); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (d) { if (d) apply(d); })
        .catch(function () { /* a missed poll is retried by the next one */ })
        .then(function () { inflight = false; });
    }
    function loop() {
      timer = null;
      poll().then(function () { if (!ended) timer = setTimeout(loop, cfg.interval); });
    }
    function stop() { if (timer) clearTimeout(timer); timer = null; }
    function kick() { if (!cfg.status) return; ended = false; stop(); loop(); }
    if (cfg.status && !ended) timer = setTimeout(loop, cfg.interval);

    function select(key) {
      graph.nodes.forEach(function (n) { n.classList.toggle("selected", n.dataset.key === key); });
    }

    function loadPanel(key, focus) {
      openKey = key;
      select(key);
      return fetch(cfg.node + "?key=" + encodeURIComponent(key), {credentials: "same-origin"})
        .then(function (r) {
          return r.text().then(function (t) { return {ok: r.ok, status: r.status, text: t}; });
        })
        .then(function (r) {
          if (openKey !== key) return;
          if (r.ok) panel.innerHTML = r.text;
          else panel.innerHTML = '<p class="msg error" role="alert">Could not load this node (HTTP ' + r.status + ').</p>';
          panel.dataset.key = key;
          if (focus) { var h = panel.querySelector("h2") || panel; h.setAttribute("tabindex", "-1"); h.focus(); }
        });
    }
    graph.onOpen(function (key) { loadPanel(key, true); });

    function closePanel() {
      var key = openKey;
      openKey = null;
      select(null);
      panel.innerHTML = '<p class="hint">Select a node to see its details.</p>';
      delete panel.dataset.key;
      if (key && graph.byKey.get(key)) graph.focusNode(graph.byKey.get(key));
    }
    panel.addEventListener("click", function (e) { if (e.target.closest("[data-close]")) closePanel(); });
    panel.addEventListener("keydown", function (e) { if (e.key === "Escape") closePanel(); });

    function say(text, ok) {
      status.textContent = text;
      status.className = "status-line " + (ok ? "ok" : "error");
    }

    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!form.classList.contains("action-form")) return;
      e.preventDefault();
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      fetch(form.getAttribute("action"), {method: "POST", body: new FormData(form), credentials: "same-origin",
                          headers: {Accept: "application/json"}})
        .then(function (r) {
          return r.json().catch(function () { return {ok: false, message: "The server answered HTTP " + r.status + "."}; });
        })
        .then(function (d) {
          say(d.message, d.ok);
          kick();
          if (openKey && d.ok) loadPanel(openKey, false);
        })
        .catch(function () { say("The server could not be reached; nothing was sent.", false); })
        .then(function () { if (button) button.disabled = false; });
    });
  }
})();
