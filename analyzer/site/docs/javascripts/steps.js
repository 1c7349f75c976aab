/* The step-through debugger of a model run (generated/steps/<scenario>/).
 *
 * The page holds <div id="lsa-steps" data-src="../data/<scenario>.js">; that data
 * file, written by analyzer/docs/steps.py, calls LSASteps(data) with plain JSON:
 *   fn: [[name, file, first line, linked code HTML]]      the functions
 *   ty: [[type, [[member, zero value], ...]]]             the struct layouts
 *   ob: [[label, type, layout index or -1, first event, {member: value at boot},
 *         1 if the run made it]]
 *   wr: [[object index, member, value]]                   the run's writes, in order
 *   ev: [[kind l|c|r|s|a, function, [line(, file)], new writes, stack depth,
 *         [[frame index, function, line(, file), new, [[local, value]]]], text, trace step]]
 *   links: {global: page URL}
 * The functions' code (fn[i][3]) comes after the first step is drawn, from
 * <scenario>.code.js, which calls LSAStepsCode([html of fn 0, html of fn 1, ...]).
 * Each step is drawn from these (the stack replayed, the writes applied up to it):
 * the C line in its function's code with the lines run so far, the frames with
 * their locals, and the objects with arrows (SVG) from a pointer to what it points
 * at.  Buttons, the arrow keys, a slider; the address keeps #step=N.  No
 * dependency, nothing fetched from elsewhere; works from file://.
 */
(function () {
  "use strict";
  var box, D, cur = -1, W = [], all = false, ui = {}, codeFn = -1, lineEls = {};
  var SVG = "http://www.w3.org/2000/svg";
  var onFile = location.protocol === "file:";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  window.LSASteps = function (data) {
    box.setAttribute("data-data-ms", String(Math.round(performance.now())));
    D = data;
    var n = 0;
    W = D.ev.map(function (e) { n += e[3]; return n; });
    index();
    build();
    go(fromHash(), true);
    requestAnimationFrame(function () {
      box.setAttribute("data-ready", "1");
      box.setAttribute("data-paint-ms", String(Math.round(performance.now())));
      var s = document.createElement("script");  // then the code of the functions
      s.src = box.getAttribute("data-src").replace(/\.js$/, ".code.js");
      document.head.appendChild(s);
    });
  };

  window.LSAStepsCode = function (html) {
    html.forEach(function (h, i) { if (D.fn[i]) D.fn[i][3] = h; });
    codeFn = -1;
    drawCode(D.ev[cur]);
    box.setAttribute("data-code", "1");
  };

  // --- the objects: labels, members, roots ---------------------------------------------
  var byLabel = {}, children = {}, roots = [];
  function parentOf(label) {
    var m = /^(.*?)(\.[^.\[\]]+|\[[^\]]*\])$/.exec(label);
    return m ? [m[1], m[2].charAt(0) === "." ? m[2].slice(1) : m[2]] : null;
  }
  function index() {
    D.ob.forEach(function (o, i) { byLabel[o[0]] = i; });
    D.ob.forEach(function (o, i) {
      // the nearest drawn container: a member of a member it does not list hangs there
      var p = parentOf(o[0]), path = p ? p[1] : "";
      while (p && byLabel[p[0]] === undefined) {
        var up = parentOf(p[0]);
        if (up) path = up[1] + (path.charAt(0) === "[" ? "" : ".") + path;
        p = up;
      }
      if (p) (children[p[0]] = children[p[0]] || {})[path] = i;
      else roots.push(i);
    });
    // what the run made first (in the order it appears), then what it wrote of the boot's
    roots.sort(function (a, b) { return (D.ob[b][5] - D.ob[a][5]) || (D.ob[a][3] - D.ob[b][3]) || (a - b); });
  }

  // --- the state at step i ---------------------------------------------------------------
  function stackAt(i) {
    var frames = [];
    for (var k = 0; k <= i; k++) {
      var e = D.ev[k];
      frames.length = e[4];
      e[5].forEach(function (d) {
        var old = frames[d[0]], fresh = d[d.length - 2], changed = d[d.length - 1];
        var locals = fresh || !old ? [] : old.locals.slice();
        changed.forEach(function (c) {
          for (var j = 0; j < locals.length; j++) if (locals[j][0] === c[0]) { locals[j] = c; return; }
          locals.push(c);
        });
        frames[d[0]] = { fn: d[1], at: d.slice(2, d.length - 2), locals: locals };
      });
    }
    return frames;
  }

  function stateAt(i) {
    var vals = {}, changed = {}, written = {}, upto = W[i], from = upto - D.ev[i][3];
    for (var j = 0; j < upto; j++) {
      var w = D.wr[j], lab = D.ob[w[0]][0];
      var v = vals[lab] || (vals[lab] = {});
      if (j >= from) changed[lab + "\u0000" + w[1]] = w[1] in v ? v[w[1]] : initial(w[0], w[1]);
      v[w[1]] = w[2];
      for (var l = lab; l; l = (parentOf(l) || [""])[0]) written[l] = true;
    }
    return { vals: vals, changed: changed, written: written };
  }

  function initial(o, member) {
    var ob = D.ob[o];
    if (ob[4] && member in ob[4]) return ob[4][member];
    if (ob[2] >= 0) {
      var fs = D.ty[ob[2]][1];
      for (var k = 0; k < fs.length; k++) if (fs[k][0] === member) return fs[k][1];
    }
    return "?";
  }

  // --- the page ------------------------------------------------------------------------
  function button(text, title, fn) {
    var b = el("button", "lsa-btn", text);
    b.type = "button";
    b.title = title;
    b.addEventListener("click", fn);
    return b;
  }

  function build() {
    box.textContent = "";
    var bar = el("div", "lsa-bar");
    ui.first = button("« first", "first step (Home)", function () { go(0); });
    ui.back = button("◀ back", "previous step (←)", function () { go(cur - 1); });
    ui.fwd = button("forward ▶", "next step (→)", function () { go(cur + 1); });
    ui.last = button("last »", "last step (End)", function () { go(D.ev.length - 1); });
    ui.slider = el("input", "lsa-slider");
    ui.slider.type = "range";
    ui.slider.min = "1";
    ui.slider.max = String(D.ev.length);
    ui.slider.setAttribute("aria-label", "step");
    ui.slider.addEventListener("input", function () { go(+ui.slider.value - 1); });
    ui.count = el("span", "lsa-count");
    var allBox = el("label", "lsa-all");
    ui.all = el("input");
    ui.all.type = "checkbox";
    ui.all.addEventListener("change", function () { all = ui.all.checked; draw(); });
    allBox.appendChild(ui.all);
    allBox.appendChild(document.createTextNode(" members not written yet"));
    [ui.first, ui.back, ui.count, ui.fwd, ui.last, ui.slider, allBox].forEach(function (x) { bar.appendChild(x); });
    ui.what = el("div", "lsa-what");
    ui.main = el("div", "lsa-main");
    var left = el("div", "lsa-left");
    ui.codeHead = el("div", "lsa-code-head");
    ui.code = el("div", "lsa-code");
    ui.frames = el("div", "lsa-frames");
    left.appendChild(ui.codeHead);
    left.appendChild(ui.code);
    left.appendChild(el("div", "lsa-h", "Frames (outermost first)"));
    left.appendChild(ui.frames);
    var right = el("div", "lsa-right");
    right.appendChild(el("div", "lsa-h", "Objects"));
    ui.objs = el("div", "lsa-objs");
    right.appendChild(ui.objs);
    ui.svg = document.createElementNS(SVG, "svg");
    ui.svg.setAttribute("class", "lsa-arrows");
    ui.svg.setAttribute("aria-hidden", "true");
    ui.main.appendChild(left);
    ui.main.appendChild(right);
    ui.main.appendChild(ui.svg);
    box.appendChild(bar);
    box.appendChild(ui.what);
    box.appendChild(ui.main);
  }

  function fromHash() {
    var m = /step=(\d+)/.exec(location.hash);
    return m ? +m[1] - 1 : 0;
  }

  function go(i, first) {
    i = Math.max(0, Math.min(D.ev.length - 1, i | 0));
    if (i === cur && !first) return;
    cur = i;
    draw();
    var h = "#step=" + (i + 1);
    if (location.hash !== h) history.replaceState(null, "", h);
  }

  function fnName(f) { return D.fn[f][0]; }

  function describe(e) {
    var name = fnName(e[1]) + "()", at = e[2][1] ? e[2][1] + ":" + e[2][0] : "line " + e[2][0];
    var kinds = { l: "runs " + at + " of " + name, c: "call " + name, r: name + " " + (e[6] || "returns"),
                  s: name + " " + (e[6] || "not run"), a: "assumption: " + e[6] };
    var text = kinds[e[0]] || e[0];
    if (e[0] === "c" && e[6]) text += " " + e[6];
    return text;
  }

  function draw() {
    var e = D.ev[cur], frames = stackAt(cur), st = stateAt(cur);
    ui.count.textContent = "step " + (cur + 1) + " / " + D.ev.length;
    ui.slider.value = String(cur + 1);
    ui.back.disabled = ui.first.disabled = cur === 0;
    ui.fwd.disabled = ui.last.disabled = cur === D.ev.length - 1;
    ui.what.textContent = "";
    ui.what.appendChild(el("span", "lsa-kind lsa-k-" + e[0], { l: "line", c: "call", r: "return", s: "left out", a: "assume" }[e[0]]));
    ui.what.appendChild(document.createTextNode(" " + describe(e)));
    ui.what.appendChild(el("span", "lsa-trace", "trace step " + e[7]));
    drawCode(e);
    var arrows = [];
    drawFrames(frames, arrows);
    drawObjects(st, arrows);
    requestAnimationFrame(function () { drawArrows(arrows); });
  }

  // --- the code --------------------------------------------------------------------------
  function drawCode(e) {
    var f = e[1], fn = D.fn[f];
    ui.codeHead.textContent = "";
    ui.codeHead.appendChild(el("code", "lsa-fn", fn[0] + "()"));
    ui.codeHead.appendChild(el("span", "lsa-where", " " + (fn[1] || "") + (e[2][0] ? ":" + e[2][0] : "")
                                                     + (e[2][1] ? " (in " + e[2][1] + ")" : "")));
    if (codeFn !== f) {
      codeFn = f;
      lineEls = {};
      if (fn[3]) {
        ui.code.innerHTML = fn[3];  // written at build time from the source, escaped
        fixLinks(ui.code);
        var nums = ui.code.querySelectorAll(".linenos span.normal"), cls = ui.code.querySelectorAll("span.cl");
        for (var k = 0; k < cls.length; k++) lineEls[fn[2] + k] = [cls[k], nums[k]];
      } else {
        ui.code.textContent = "";
        ui.code.appendChild(el("p", "lsa-none", box.getAttribute("data-code")
          ? "No source for " + fn[0] + "(): a macro, or defined outside the analysed files."
          : "Reading the code ..."));
        if (!box.getAttribute("data-code")) codeFn = -1;
      }
    }
    var ran = {};
    for (var k2 = 0; k2 <= cur; k2++) {
      var x = D.ev[k2];
      if (x[0] === "l" && x[1] === f && x[2].length === 1) ran[x[2][0]] = true;
    }
    var here = e[2].length === 1 ? e[2][0] : -1, curEl = null;
    for (var ln in lineEls) {
      var pair = lineEls[ln], isCur = +ln === here;
      pair.forEach(function (node) {
        if (!node) return;
        node.classList.toggle("st-ran", !!ran[ln]);
        node.classList.toggle("st-cur", isCur);
      });
      if (isCur) curEl = pair[0];
    }
    if (curEl) {
      var top = curEl.offsetTop - ui.code.clientHeight / 3;
      ui.code.scrollTop = Math.max(0, top);
    }
  }

  function fixLinks(root) {
    if (!onFile) return;
    var links = root.querySelectorAll("a[href]");
    for (var i = 0; i < links.length; i++) {
      var h = links[i].getAttribute("href");
      if (!h || /^[a-z]+:/i.test(h) || h.charAt(0) === "#") continue;
      links[i].setAttribute("href", h.replace(/\/(#|$)/, "/index.html$1"));
    }
  }

  // --- frames ---------------------------------------------------------------------------
  function value(td, v, arrows, key) {
    var m = /^&([^\s]+)/.exec(v), root = m ? m[1].split(/[.\[]/)[0] : "";
    if (m && D.links[root]) {
      var a = el("a", "", v);
      a.href = D.links[root];
      td.appendChild(a);
    } else td.appendChild(el("code", "", v));
    if (m) arrows.push({ from: td, to: m[1], key: key });
  }

  function drawFrames(frames, arrows) {
    ui.frames.textContent = "";
    frames.forEach(function (fr, i) {
      if (!fr) return;
      var d = el("div", "lsa-frame" + (i === frames.length - 1 ? " lsa-top" : ""));
      d.setAttribute("data-fn", fnName(fr.fn));
      var head = el("div", "lsa-frame-head");
      head.appendChild(el("code", "lsa-fn", fnName(fr.fn) + "()"));
      head.appendChild(el("span", "lsa-where", " " + (fr.at[1] || D.fn[fr.fn][1]) + ":" + fr.at[0]));
      d.appendChild(head);
      var t = el("table", "lsa-locals");
      fr.locals.forEach(function (l) {
        var tr = el("tr");
        tr.setAttribute("data-local", l[0]);
        tr.appendChild(el("td", "lsa-name", l[0]));
        var td = el("td", "lsa-val");
        value(td, l[1], arrows, "local " + fnName(fr.fn) + "." + l[0]);
        tr.appendChild(td);
        t.appendChild(tr);
      });
      if (fr.locals.length) d.appendChild(t);
      ui.frames.appendChild(d);
    });
  }

  // --- objects --------------------------------------------------------------------------
  var labelEls = {};
  function drawObjects(st, arrows) {
    ui.objs.textContent = "";
    labelEls = {};
    var shown = 0, cols = [], n = Math.max(1, Math.floor(ui.objs.clientWidth / 380));
    for (var c = 0; c < n; c++) cols.push(ui.objs.appendChild(el("div", "lsa-col")));
    roots.forEach(function (o) {
      var ob = D.ob[o];
      if (ob[3] > cur) return;
      var low = cols.reduce(function (a, b) { return b.offsetHeight < a.offsetHeight ? b : a; });
      low.appendChild(objBox(o, st, arrows, ""));  // each box goes to the shortest column
      shown++;
    });
    if (!shown) ui.objs.appendChild(el("p", "lsa-none", "No object made or written yet."));
  }

  function members(o, st) {
    var ob = D.ob[o], out = [], seen = {};
    if (ob[2] >= 0) D.ty[ob[2]][1].forEach(function (f) { out.push(f); seen[f[0]] = true; });
    var v = st.vals[ob[0]] || {};
    for (var k in v) if (!seen[k]) { out.push([k, "?"]); seen[k] = true; }
    var ch = children[ob[0]] || {};
    for (var c in ch) if (!seen[c]) { out.push([c, "{...}"]); seen[c] = true; }
    return out;
  }

  function objBox(o, st, arrows, asMember) {
    var ob = D.ob[o], lab = ob[0], d = el("div", "lsa-obj" + (asMember ? " lsa-member" : ""));
    d.setAttribute("data-label", lab);
    labelEls[lab] = d;
    var head = el("div", "lsa-obj-head");
    head.appendChild(el("span", "lsa-type", ob[1] || "object"));
    head.appendChild(el("code", "lsa-label", asMember ? asMember : lab));
    d.appendChild(head);
    var t = el("table", "lsa-fields"), hidden = 0, vals = st.vals[lab] || {};
    var ch = children[lab] || {};
    members(o, st).forEach(function (f) {
      var name = f[0], key = lab + "\u0000" + name;
      if (ch[name] !== undefined) {
        var child = D.ob[ch[name]][0];
        if (!all && !st.written[child]) { hidden++; return; }
        var tr = el("tr", "lsa-nest"), td = el("td");
        td.colSpan = 2;
        td.appendChild(objBox(ch[name], st, arrows, name));
        tr.appendChild(td);
        t.appendChild(tr);
        return;
      }
      var written = name in vals;
      if (!written && !all) { hidden++; return; }
      var tr2 = el("tr", (key in st.changed ? "lsa-chg" : "") + (written ? "" : " lsa-zero"));
      tr2.setAttribute("data-field", name);
      if (key in st.changed) tr2.title = "this step wrote it; it was " + st.changed[key];
      tr2.appendChild(el("td", "lsa-name", name));
      var td2 = el("td", "lsa-val");
      value(td2, written ? vals[name] : f[1], arrows, lab + "." + name);
      tr2.appendChild(td2);
      t.appendChild(tr2);
    });
    if (t.firstChild) d.appendChild(t);
    if (hidden) d.appendChild(el("div", "lsa-hidden", hidden + " member" + (hidden > 1 ? "s" : "") + " not written yet"));
    return d;
  }

  // --- arrows ---------------------------------------------------------------------------
  function targetOf(label) {
    var t = label;
    while (t) {
      if (labelEls[t]) return labelEls[t];
      var p = parentOf(t);
      t = p ? p[0] : "";
    }
    return null;
  }

  function drawArrows(arrows) {
    var svg = ui.svg, main = ui.main, base = main.getBoundingClientRect();
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("width", main.scrollWidth);
    svg.setAttribute("height", main.scrollHeight);
    var defs = document.createElementNS(SVG, "defs");
    defs.innerHTML = '<marker id="lsa-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>';
    svg.appendChild(defs);
    arrows.forEach(function (a) {
      var to = targetOf(a.to);
      if (!to) return;
      if (to.contains(a.from)) { a.from.classList.add("lsa-self"); return; }
      var s = a.from.getBoundingClientRect(), t = to.getBoundingClientRect();
      var sx = s.right - base.left - 4, sy = s.top + s.height / 2 - base.top;
      var left = t.left - base.left, right = t.right - base.left, ty = t.top - base.top + 9;
      var tx = left >= sx - 10 ? left : right, dx = Math.max(30, Math.abs(tx - sx) / 2);
      var c2 = tx === left ? tx - dx : tx + dx;
      var p = document.createElementNS(SVG, "path");
      p.setAttribute("d", "M" + sx + "," + sy + " C" + (sx + dx) + "," + sy + " " + c2 + "," + ty + " " + tx + "," + ty);
      p.setAttribute("marker-end", "url(#lsa-head)");
      p.setAttribute("data-from", a.key);
      p.setAttribute("data-to", to.getAttribute("data-label"));
      svg.appendChild(p);
    });
  }

  // --- keys, address ----------------------------------------------------------------------
  document.addEventListener("keydown", function (e) {
    if (!D || e.altKey || e.ctrlKey || e.metaKey) return;
    var t = e.target, tag = t && t.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable)) return;
    var moves = { ArrowRight: 1, ArrowLeft: -1 };
    if (e.key in moves) { go(cur + moves[e.key]); e.preventDefault(); }
    else if (e.key === "Home") { go(0); e.preventDefault(); }
    else if (e.key === "End") { go(D.ev.length - 1); e.preventDefault(); }
  });
  window.addEventListener("hashchange", function () { if (D) go(fromHash()); });
  window.addEventListener("resize", function () { if (D) draw(); });

  function start() {
    box = document.getElementById("lsa-steps");
    if (!box) return;
    var s = document.createElement("script");
    s.src = box.getAttribute("data-src");
    s.onerror = function () { box.textContent = "The debugger's data file " + s.src + " is missing."; };
    document.head.appendChild(s);
  }
  // the script comes after the page's content: the data starts loading at once
  if (document.getElementById("lsa-steps") || document.readyState !== "loading") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
