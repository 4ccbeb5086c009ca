// Clickport browser tracker. Install with one tag:
//   <script defer data-domain="example.com" src="https://analytics.example.com/js/script.js"></script>
// Optional: data-api="https://host/api/collect" (default: the script's origin + /api/collect).
// No cookies, no localStorage: the server-made session id lives in sessionStorage `cp_sid`, so one
// tab is one session. Nothing is sent under automation (navigator.webdriver) or from file:// pages.
// Full-line comments and indentation are stripped when the server serves this file.
(function (w, d) {
  'use strict';
  var nav = navigator, loc = w.location, el = d.currentScript;
  var queued = w.clickport && w.clickport.q;
  var api = w.clickport = { track: function () {} };
  if (!el || nav.webdriver || loc.protocol == 'file:') return;
  var domain = el.getAttribute('data-domain') || loc.hostname;
  var endpoint = el.getAttribute('data-api') || new URL(el.src).origin + '/api/collect';
  var store = w.sessionStorage, sid, hasStore;
  try { sid = store.getItem('cp_sid'); hasStore = 1; } catch (e) { store = 0; }
  // Sends go one after another, so a tab's first pageview gets its session id before any other
  // event is built; beacons (page hidden or left) go at once.
  var chain = Promise.resolve(), visit, path;

  function post(body, beacon) {
    if (!body) return;
    body.domain = domain;
    body.url = body.url || loc.href;
    if (sid) body.session_id = +sid;
    else if (hasStore && body.type == 'pageview') body.new_session = true;
    var data = JSON.stringify(body);
    if (beacon && nav.sendBeacon && nav.sendBeacon(endpoint, data)) return chain;
    // A string body is sent as text/plain: a CORS "simple" request, no preflight.
    return fetch(endpoint, { method: 'POST', body: data, keepalive: true, credentials: 'omit' })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.session_id) {
          sid = '' + j.session_id;
          try { store.setItem('cp_sid', sid); } catch (e) {}
        }
        return j;
      });
  }

  function send(build, beacon) {
    if (beacon) return post(build(), 1);
    chain = chain.then(function () { return post(build()); }).catch(function () {});
    return chain;
  }

  // --- engagement: max scroll depth and visible, focused time per page visit ---
  function active() { return d.visibilityState == 'visible' && d.hasFocus(); }

  function measure() {
    if (!visit) return;
    var de = d.documentElement, b = d.body || {};
    // The layout is re-measured every time: the page may grow (lazy content, SPA renders).
    var height = Math.max(de.scrollHeight, de.offsetHeight, b.scrollHeight || 0, b.offsetHeight || 0);
    var seen = (w.scrollY || de.scrollTop || 0) + w.innerHeight;
    var depth = height ? Math.min(100, Math.round(seen / height * 100)) : 100;
    if (depth > visit.scroll) visit.scroll = depth;
  }

  function clock() {
    if (!visit) return;
    var now = Date.now();
    if (visit.since) visit.ms += now - visit.since;
    visit.since = active() ? now : 0;
  }

  function flush(beacon) {
    var v = visit;
    measure();
    clock();
    if (!v || (v.scroll == v.sentScroll && Math.round(v.ms) == v.sentMs)) return;
    send(function () {
      if (!v.id) return;
      v.sentScroll = v.scroll;
      v.sentMs = Math.round(v.ms);
      return { type: 'engagement', url: v.url, page_visit_id: v.id,
        scroll_depth: v.scroll, engaged_ms: v.sentMs };
    }, beacon && v.id);
  }

  // --- pageviews: full loads, History API navigations, back/forward cache restores ---
  function pageview(first) {
    if (!first && loc.pathname == path) return;
    if (visit) flush();
    path = loc.pathname;
    var v = visit = { url: loc.href, scroll: 0, ms: 0, since: 0 };
    measure();
    clock();
    send(function () {
      return { type: 'pageview', url: v.url, referrer: first ? d.referrer : '',
        screen_width: w.innerWidth };
    }).then(function (j) { if (j && j.page_visit_id) v.id = j.page_visit_id; });
  }

  var h = w.history;
  ['pushState', 'replaceState'].forEach(function (name) {
    var orig = h[name];
    h[name] = function () {
      var r = orig.apply(this, arguments);
      pageview();
      return r;
    };
  });

  function on(target, type, fn, opts) { target.addEventListener(type, fn, opts); }
  on(w, 'popstate', function () { pageview(); });
  on(w, 'pageshow', function (e) { if (e.persisted) pageview(1); });
  on(w, 'scroll', measure, { passive: true });
  on(w, 'focus', clock);
  on(w, 'blur', clock);
  on(d, 'visibilitychange', function () {
    if (d.visibilityState == 'hidden') flush(1); else clock();
  });
  on(w, 'pagehide', function () { flush(1); });

  // --- outbound link clicks (and data-cp-click elements), form submissions ---
  function text(node) { return (node.innerText || node.textContent || '').trim().slice(0, 200); }

  function click(e) {
    if (e.type == 'auxclick' && e.button != 1) return;
    var t = e.target.closest && e.target.closest('a[href],[data-cp-click]');
    if (!t) return;
    var named = t.getAttribute('data-cp-click');
    var href = t.href && new URL(t.href, loc.href);
    if (!named && !(href && /^https?:$/.test(href.protocol) && href.host != loc.host)) return;
    var keys = ['text'], values = [text(t)];
    if (href) { keys.unshift('url'); values.unshift(href.href.slice(0, 2000)); }
    send(function () {
      return { type: 'click', name: named || 'Outbound Link', meta_keys: keys, meta_values: values };
    }, 1);
  }
  on(d, 'click', click, true);
  on(d, 'auxclick', click, true);

  on(d, 'submit', function (e) {
    var f = e.target, name = f.getAttribute('name') || '', id = f.getAttribute('id') || '';
    // The form's name and id only: never a field's value.
    send(function () {
      return { type: 'form', name: (name || id).slice(0, 200),
        meta_keys: id ? ['form_id'] : [], meta_values: id ? [id.slice(0, 2000)] : [] };
    }, 1);
  }, true);

  // --- custom events: clickport.track(name, props, {amount, currency}) ---
  api.track = function (name, props, revenue) {
    var keys = [], values = [];
    for (var k in props || {}) { keys.push(k); values.push(('' + props[k]).slice(0, 2000)); }
    send(function () {
      var body = { type: 'custom', name: ('' + name).slice(0, 200), meta_keys: keys, meta_values: values };
      if (revenue && revenue.amount != null) {
        body.revenue_amount = +revenue.amount;
        body.revenue_currency = revenue.currency;
      }
      return body;
    }, d.visibilityState == 'hidden');
  };

  function start() {
    pageview(1);
    (queued || []).forEach(function (args) { api.track.apply(0, args); });
  }
  if (d.prerendering) on(d, 'prerenderingchange', start, { once: true });
  else start();
})(window, document);
