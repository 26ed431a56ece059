/* mscseq report: draws the embedded plotly figures, the PCA colour selector, sortable/searchable tables and
   section navigation. Data are read from the JSON block and only ever inserted as text, never as markup. */
(function () {
  "use strict";
  var specs = {}, shared = { strings: [], arrays: [] };
  try {
    specs = JSON.parse(document.getElementById("mscseq-figures").textContent);
    var block = document.getElementById("mscseq-shared");
    if (block) { shared = JSON.parse(block.textContent); }
  } catch (e) {
    console.warn("mscseq: figure data could not be read");
  }
  var TYPES = { f4: Float32Array, u2: Uint16Array, u4: Uint32Array };
  var decoded = {};

  // An array stored once in the shared block (see mscseq/report/pack.py): base64 little-endian typed data,
  // rows when it has a shape, strings when it indexes the shared string table.
  function sharedArray(k) {
    if (decoded[k]) { return decoded[k]; }
    var spec = shared.arrays[k];
    var bin = atob(spec.bdata), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    var a = new TYPES[spec.dtype](bytes.buffer), out = a;
    if (spec.strings) {
      out = new Array(a.length);
      for (var j = 0; j < a.length; j++) { out[j] = shared.strings[a[j]]; }
    } else if (spec.shape) {
      var dims = spec.shape.split(",").map(Number);
      out = new Array(dims[0]);
      for (var r = 0; r < dims[0]; r++) { out[r] = Array.prototype.slice.call(a.subarray(r * dims[1], (r + 1) * dims[1])); }
    }
    decoded[k] = out;
    return out;
  }

  function resolve(spec) {
    spec.data.forEach(function (tr) {
      Object.keys(tr).forEach(function (key) {
        var v = tr[key];
        if (v && typeof v === "object" && !Array.isArray(v) && typeof v.ref === "number" && Object.keys(v).length === 1) {
          tr[key] = sharedArray(v.ref);
        }
      });
    });
    return spec;
  }
  var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"],
    toImageButtonOptions: { format: "svg", scale: 1 } };
  var drawn = {};

  var pending = [];

  function draw(el) {
    var id = el.getAttribute("data-fig");
    if (drawn[id] || !specs[id] || typeof Plotly === "undefined") { return Promise.resolve(); }
    drawn[id] = true;
    var spec = resolve(specs[id]);
    var done = Plotly.newPlot(el, spec.data, spec.layout, config).then(function () {
      el.style.minHeight = "";
      el.setAttribute("data-drawn", "true");
    });
    pending.push(done.catch(function () { return null; }));
    return done;
  }

  // Draw the plots not drawn yet, one per idle period, so that what the reader scrolls to (drawn at once by
  // the observer below) and every click or hover go first; a report with many contrasts has dozens of plots.
  function drawAll() {
    var els = Array.prototype.slice.call(document.querySelectorAll("[data-fig].plot"));
    var i = 0;
    var later = window.requestIdleCallback
      ? function (f) { window.requestIdleCallback(f, { timeout: 1000 }); }
      : function (f) { setTimeout(f, 0); };
    function next() {
      while (i < els.length && drawn[els[i].getAttribute("data-fig")]) { i++; }
      if (i >= els.length) {
        Promise.all(pending).then(function () { document.body.setAttribute("data-plots-ready", "true"); });
        return;
      }
      draw(els[i++]).then(function () { later(next); }, function () { later(next); });
    }
    later(next);
  }

  function setupLazy() {
    if (!("IntersectionObserver" in window)) { drawAll(); return; }
    var io = new IntersectionObserver(function (entries) {
      // one plot per task: the first plot in view responds while its neighbours are still being drawn
      entries.forEach(function (en, k) {
        if (!en.isIntersecting) { return; }
        io.unobserve(en.target);
        if (k === 0) { draw(en.target); } else { setTimeout(function () { draw(en.target); }, 0); }
      });
    }, { rootMargin: "300px" });
    document.querySelectorAll("[data-fig].plot").forEach(function (el) { io.observe(el); });
    // draw the rest in the background so that printing and jumping around find every plot ready
    setTimeout(drawAll, 300);
  }

  function setupPcaSelector() {
    document.querySelectorAll("select.pca-color").forEach(function (sel) {
      sel.addEventListener("change", function () {
        var id = sel.getAttribute("data-fig");
        var el = document.getElementById(id);
        var meta = specs[id] && specs[id].layout.meta;
        if (!meta) { return; }
        var c = meta.colorings[Number(sel.value)];
        var apply = function () {
          Plotly.restyle(el, { visible: c.visible });
          Plotly.relayout(el, { "legend.title.text": c.column });
        };
        if (drawn[id]) { apply(); } else { draw(el).then(apply); }
      });
    });
  }

  function cellKey(td) {
    var v = td.getAttribute("data-v");
    return v === null ? null : Number(v);
  }

  function setupTables() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      var ths = table.querySelectorAll("thead th");
      ths.forEach(function (th, col) {
        var sort = function () {
          var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
          ths.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
          th.setAttribute("aria-sort", dir);
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          var sign = dir === "ascending" ? 1 : -1;
          rows.sort(function (a, b) {
            var ca = a.cells[col], cb = b.cells[col];
            var ka = cellKey(ca), kb = cellKey(cb);
            if (ka !== null && kb !== null) { return sign * (ka - kb); }
            if (ka !== null) { return -1; }
            if (kb !== null) { return 1; }
            return sign * ca.textContent.localeCompare(cb.textContent, undefined, { numeric: true });
          });
          rows.forEach(function (r) { body.appendChild(r); });
        };
        th.addEventListener("click", sort);
        th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
      });
    });
    document.querySelectorAll("input.table-search").forEach(function (input) {
      var table = document.getElementById(input.getAttribute("data-table"));
      var count = document.querySelector('[data-count-for="' + input.getAttribute("data-table") + '"]');
      var update = function () {
        var q = input.value.trim().toLowerCase();
        var rows = table.tBodies[0].rows, shown = 0;
        for (var i = 0; i < rows.length; i++) {
          var hit = !q || rows[i].textContent.toLowerCase().indexOf(q) >= 0;
          rows[i].hidden = !hit;
          if (hit) { shown++; }
        }
        if (count) { count.textContent = shown + " of " + rows.length + " rows"; }
      };
      input.addEventListener("input", update);
      update();
    });
  }

  function setupNav() {
    var links = {};
    document.querySelectorAll(".toc a").forEach(function (a) { links[a.getAttribute("href").slice(1)] = a; });
    if (!("IntersectionObserver" in window)) { return; }
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (en) {
        if (en.isIntersecting && links[en.target.id]) {
          Object.keys(links).forEach(function (k) { links[k].classList.remove("active"); });
          links[en.target.id].classList.add("active");
        }
      });
    }, { rootMargin: "-45% 0px -50% 0px" });
    document.querySelectorAll("main > section").forEach(function (s) { io.observe(s); });
    window.addEventListener("beforeprint", function () {
      document.querySelectorAll("details").forEach(function (d) { d.open = true; });
    });
    var btn = document.querySelector('[data-action="print"]');
    if (btn) { btn.addEventListener("click", function () { window.print(); }); }
  }

  function init() {
    setupTables();
    setupNav();
    setupPcaSelector();
    setupLazy();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
