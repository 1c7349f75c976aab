/* The code browser: a card for each name of the code excerpts.
 *
 * Identifiers in the excerpts are links (<a class="xr" href data-s>) or spans
 * carrying a card id (<span class="xs" data-s>).  Cards are plain data written by
 * analyzer/docs/xref.py into generated/symbols/bNN.js (files that call LSA.add), loaded
 * on demand by a <script> element, so the site works from a local server or
 * from file:// with no network.  The page generated/ref/symbol/ shows the card
 * named in its address (#<id>).  No dependency; nothing is fetched from elsewhere.
 */
(function () {
  "use strict";
  var BUCKETS = 64;  // analyzer/docs/xref.py BUCKETS
  var script = document.currentScript;
  var root = script ? script.src.replace(/javascripts\/codebrowser\.js(\?.*)?$/, "") : "";
  var onFile = location.protocol === "file:";
  var cards = {};
  var loading = {};
  var waiting = {};

  window.LSA = {
    add: function (data) {
      for (var k in data) if (Object.prototype.hasOwnProperty.call(data, k)) cards[k] = data[k];
    },
    card: function (id) { return cards[id]; },
  };

  function bucket(id) {  // FNV-1a over UTF-16 code units, as xref.bucket
    var h = 0x811c9dc5;
    for (var i = 0; i < id.length; i++) {
      h ^= id.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h % BUCKETS;
  }

  function load(id, then) {
    if (cards[id]) { then(cards[id]); return; }
    var b = bucket(id);
    (waiting[b] = waiting[b] || []).push(function () { then(cards[id]); });
    if (loading[b]) return;
    loading[b] = true;
    var s = document.createElement("script");
    s.src = root + "generated/symbols/b" + (b < 10 ? "0" : "") + b + ".js";
    s.onload = s.onerror = function () {
      var fns = waiting[b] || [];
      waiting[b] = [];
      fns.forEach(function (f) { f(); });
    };
    document.head.appendChild(s);
  }

  function pageUrl(h) {  // a page path relative to the site root
    var url = root + h;
    if (onFile) url = url.replace(/\/(#|$)/, "/index.html$1");
    return url;
  }

  function symbolUrl(id) {
    return pageUrl("generated/ref/symbol/") + "#" + encodeURIComponent(id);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function linkTo(item) {
    if (item.h) { var a = el("a", "", item.t || item.n); a.href = pageUrl(item.h); return a; }
    if (item.s) { var b = el("a", "", item.t || item.n); b.href = symbolUrl(item.s); return b; }
    return el("code", "", item.t || item.n);
  }

  function where(c) {
    return c.f ? c.f + (c.l ? ":" + c.l : "") : "";
  }

  function targets(rows, full) {
    var t = el("table", "lsa-targets");
    var shown = full ? rows : rows.slice(0, 5);
    shown.forEach(function (r) {
      var tr = el("tr", r.k ? "taken" : "");
      var name = el("td");
      name.appendChild(linkTo({ t: r.n, h: r.h, s: r.s }));
      if (r.k) name.appendChild(el("div", "lsa-taken", "taken in " + r.k.join("; ")));
      tr.appendChild(name);
      var ev = el("td");
      var evidence = r.e || [];
      (full ? evidence : evidence.slice(0, 2)).forEach(function (e) {
        ev.appendChild(el("div", "", e));
      });
      tr.appendChild(ev);
      tr.appendChild(el("td", "lsa-at", where(r)));
      t.appendChild(tr);
    });
    if (shown.length < rows.length) {
      var more = el("tr", "lsa-more");
      more.appendChild(el("td", "", "and " + (rows.length - shown.length) + " more: see the card page"));
      t.appendChild(more);
    }
    return t;
  }

  function build(c, id, full) {
    var box = el("div", "lsa-body");
    var head = el("div", "lsa-head");
    head.appendChild(el("span", "lsa-kind", c.k));
    head.appendChild(el("code", "lsa-title", c.t || c.n));
    box.appendChild(head);
    if (c.f) box.appendChild(el("div", "lsa-where", where(c)));
    var notes = (c.d || []).concat(c.al || []);
    if (notes.length) {
      var ul = el("ul", "lsa-notes");
      notes.forEach(function (n) { ul.appendChild(el("li", "", n)); });
      box.appendChild(ul);
    }
    if (c.b) box.appendChild(el("pre", "lsa-macro", c.b));
    if (c.r && c.r.length) {
      var m = el("div", "lsa-model");
      m.appendChild(el("strong", "", "In the model: "));
      m.appendChild(document.createTextNode(c.r.join("; ")));
      box.appendChild(m);
    }
    if (c.x && c.x.length) box.appendChild(targets(c.x, full));
    if (c.c && c.c.length) {
      var calls = el("div", "lsa-calls");
      calls.appendChild(el("strong", "", "Calls: "));
      c.c.forEach(function (it, i) {
        if (i) calls.appendChild(document.createTextNode(" · "));
        calls.appendChild(linkTo(it));
      });
      box.appendChild(calls);
    }
    var links = el("div", "lsa-links");
    (c.a || []).forEach(function (it) { links.appendChild(linkTo(it)); });
    if (id && !document.getElementById("lsa-symbol")) {
      var own = el("a", "lsa-own", "card page"); own.href = symbolUrl(id); links.appendChild(own);
    }
    if (links.childNodes.length) box.appendChild(links);
    return box;
  }

  // --- the floating card ------------------------------------------------------------
  var pop = null, showTimer = 0, hideTimer = 0, current = null;

  function popup() {
    if (!pop) {
      pop = el("div", "lsa-card md-typeset");
      pop.setAttribute("role", "tooltip");
      pop.id = "lsa-card";
      pop.addEventListener("mouseenter", function () { clearTimeout(hideTimer); });
      pop.addEventListener("mouseleave", hideSoon);
      document.body.appendChild(pop);
    }
    return pop;
  }

  function place(target) {
    var r = target.getBoundingClientRect();
    var p = popup();
    p.style.left = "0px"; p.style.top = "0px";
    p.style.display = "block";
    var w = p.offsetWidth, h = p.offsetHeight;
    var x = Math.min(Math.max(8, r.left), window.innerWidth - w - 8);
    var y = r.bottom + 6;
    if (y + h > window.innerHeight - 8 && r.top - h - 6 > 8) y = r.top - h - 6;
    p.style.left = (x + window.scrollX) + "px";
    p.style.top = (y + window.scrollY) + "px";
  }

  function show(target) {
    var id = target.getAttribute("data-s");
    if (!id) return;
    current = target;
    load(id, function (c) {
      if (current !== target) return;
      var p = popup();
      p.textContent = "";
      p.appendChild(c ? build(c, id, false) : el("div", "lsa-body", "No card for " + id));
      p.setAttribute("data-for", id);
      target.setAttribute("aria-describedby", "lsa-card");
      place(target);
    });
  }

  function hide() {
    if (pop) pop.style.display = "none";
    if (current) current.removeAttribute("aria-describedby");
    current = null;
  }

  function hideSoon() {
    clearTimeout(showTimer);
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, 250);
  }

  function symbolOf(node) {
    while (node && node.nodeType === 1) {
      if (node.hasAttribute && node.hasAttribute("data-s")) return node;
      if (node.classList && node.classList.contains("highlight")) return null;
      node = node.parentNode;
    }
    return null;
  }

  document.addEventListener("mouseover", function (e) {
    var t = symbolOf(e.target);
    if (!t) return;
    clearTimeout(hideTimer);
    clearTimeout(showTimer);
    if (t === current && pop && pop.style.display === "block") return;
    showTimer = setTimeout(function () { show(t); }, 120);
  });
  document.addEventListener("mouseout", function (e) {
    if (symbolOf(e.target)) hideSoon();
  });
  document.addEventListener("focusin", function (e) {
    var t = symbolOf(e.target);
    if (t) show(t);
  });
  document.addEventListener("focusout", function (e) {
    if (symbolOf(e.target)) hideSoon();
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") hide();
  });

  // --- the symbol page ----------------------------------------------------------------
  function symbolPage() {
    var box = document.getElementById("lsa-symbol");
    if (!box || !location.hash) return;
    var id = decodeURIComponent(location.hash.slice(1));
    load(id, function (c) {
      box.textContent = "";
      box.className = "lsa-card lsa-static";
      box.appendChild(c ? build(c, "", true) : el("p", "", "No symbol " + id + " in this site."));
      if (c) document.title = (c.n || id) + " — " + document.title.replace(/^.*? — /, "");
    });
  }

  // --- file:// : directory links open their index.html --------------------------------
  function fileLinks() {
    if (!onFile) return;
    var links = document.querySelectorAll("a[href]");
    for (var i = 0; i < links.length; i++) {
      var h = links[i].getAttribute("href");
      if (!h || /^[a-z]+:/i.test(h) || h.charAt(0) === "#") continue;
      links[i].setAttribute("href", h.replace(/\/(#|$)/, "/index.html$1").replace(/^\.\/?$/, "index.html"));
    }
  }

  function start() {
    fileLinks();
    symbolPage();
  }
  window.addEventListener("hashchange", symbolPage);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
