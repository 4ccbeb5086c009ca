// Clickport tracker (docs/tracker.md). Served with comments and indentation stripped.
(function (w, d) {
  var nav = navigator, loc = location, el = d.currentScript, sid, store, visit, path;
  var api = w.clickport = { track: function () {} };
  if (!el || nav.webdriver || loc.protocol == 'file:') return;
  var domain = el.getAttribute('data-domain') || loc.hostname;
  var endpoint = el.getAttribute('data-api') || new URL(el.src).origin + '/api/collect';
  try { sid = sessionStorage.cp_sid; store = 1; } catch (e) {}
  var chain = Promise.resolve();

  function post(body, beacon) {
    if (!body) return;
    body.domain = domain;
    body.url = body.url || loc.href;
    if (sid) body.session_id = +sid;
    else if (store && body.type == 'pageview') body.new_session = true;
    body = JSON.stringify(body);
    // A string body is text/plain: no CORS preflight.
    if (beacon && nav.sendBeacon && nav.sendBeacon(endpoint, body)) return;
    return fetch(endpoint, { method: 'POST', body: body, keepalive: true })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.session_id) {
          sid = '' + j.session_id;
          try { sessionStorage.cp_sid = sid; } catch (e) {}
        }
        return j;
      });
  }

  // Chained: a tab's first pageview brings the session id. Beacons go at once.
  function send(build, beacon) {
    if (beacon) return post(build(), 1);
    return chain = chain.then(function () { return post(build()); }).catch(function () {});
  }

  // Per page visit: deepest scroll (layout re-measured), visible+focused time.
  function measure() {
    var de = d.documentElement, b = d.body || de;
    var height = Math.max(de.scrollHeight, de.offsetHeight, b.scrollHeight, b.offsetHeight);
    var depth = Math.min(100, Math.round((w.scrollY + w.innerHeight) / height * 100)) || 0;
    if (visit && depth > visit.scroll) visit.scroll = depth;
  }

  function clock() {
    var now = Date.now();
    if (!visit) return;
    if (visit.since) visit.ms += now - visit.since;
    visit.since = d.visibilityState == 'visible' && d.hasFocus() ? now : 0;
  }

  function flush(beacon) {
    var v = visit, ms, key;
    measure();
    clock();
    if (!v || (key = v.scroll + ':' + (ms = Math.round(v.ms))) == v.sent) return;
    send(function () {
      if (!v.id) return;
      v.sent = key;
      return { type: 'engagement', url: v.url, page_visit_id: v.id, scroll_depth: v.scroll, engaged_ms: ms };
    }, beacon && v.id);
  }

  // Pageviews: full loads, History API navigations, back/forward cache restores.
  function pageview(first) {
    if (!first && loc.pathname == path) return;
    if (visit) flush();
    path = loc.pathname;
    var v = visit = { url: loc.href, scroll: 0, ms: 0 };
    measure();
    clock();
    send(function () {
      return { type: 'pageview', url: v.url, referrer: first ? d.referrer : '',
        screen_width: w.innerWidth };
    }).then(function (j) { v.id = j && j.page_visit_id; });
  }

  function on(target, type, fn, opts) { target.addEventListener(type, fn, opts); }
  ['pushState', 'replaceState'].forEach(function (name) {
    var orig = history[name];
    history[name] = function () {
      var r = orig.apply(this, arguments);
      pageview();
      return r;
    };
  });
  on(w, 'popstate', function () { pageview(); });
  on(w, 'pageshow', function (e) { if (e.persisted) pageview(1); });
  on(w, 'scroll', measure, { passive: true });
  on(w, 'focus', clock);
  on(w, 'blur', clock);
  on(d, 'visibilitychange', function () { d.hidden ? flush(1) : clock(); });
  on(w, 'pagehide', function () { flush(1); });

  function click(e) {
    var a = e.target.closest && e.target.closest('a[href]');
    if (!a || e.button > 1 || !/^http/.test(a.protocol) || a.host == loc.host) return;
    var text = (a.innerText || a.textContent || '').trim().slice(0, 200);
    send(function () {
      return { type: 'click', name: 'Outbound Link', meta_keys: ['url', 'text'],
        meta_values: [a.href.slice(0, 2000), text] };
    }, 1);
  }
  on(d, 'click', click, true);
  on(d, 'auxclick', click, true);

  on(d, 'submit', function (e) {
    // Name and id only, never field values.
    var f = e.target, id = f.getAttribute('id');
    send(function () {
      return { type: 'form', name: (f.getAttribute('name') || id || '').slice(0, 200),
        meta_keys: id ? ['form_id'] : [], meta_values: id ? [id.slice(0, 2000)] : [] };
    }, 1);
  }, true);

  // Custom events: clickport.track(name, props, {amount, currency}).
  api.track = function (name, props, revenue) {
    var keys = [], values = [];
    for (var k in props) keys.push(k), values.push(('' + props[k]).slice(0, 2000));
    send(function () {
      var body = { type: 'custom', name: ('' + name).slice(0, 200), meta_keys: keys, meta_values: values };
      if (revenue && revenue.amount != null) {
        body.revenue_amount = +revenue.amount;
        body.revenue_currency = revenue.currency;
      }
      return body;
    }, d.hidden);
  };

  pageview(1);
})(window, document);
