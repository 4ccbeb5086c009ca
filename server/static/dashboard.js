// Clickport dashboard: plain JS, no build step, no third-party code. Everything it shows comes
// from the public API (POST /api/query, POST /api/funnel, GET /api/realtime, /api/goals,
// /api/props) with a read key that is kept in this tab's sessionStorage only. Every panel has a
// "CSV" button: the same request with `Accept: text/csv`, saved as a file.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const DOMAIN = document.body.dataset.domain;
  const TZ = document.body.dataset.timezone || 'UTC';
  const KEY_STORE = 'cp_dash_key:' + DOMAIN;
  const LIVE_EVERY_MS = 15000;

  const METRICS = ['visitors', 'sessions', 'pageviews', 'views_per_visit', 'bounce_rate',
    'avg_duration', 'avg_scroll', 'clickers'];
  const LABELS = {
    visitors: 'Unique visitors', sessions: 'Sessions', pageviews: 'Pageviews',
    views_per_visit: 'Views per visit', bounce_rate: 'Bounce rate', avg_duration: 'Visit duration',
    avg_scroll: 'Scroll depth', clickers: 'Clickers',
  };
  const PANELS = [
    { id: 'pages', title: 'Pages', metrics: ['visitors', 'pageviews'],
      tabs: [['page', 'Top pages'], ['entry_page', 'Entry pages'], ['exit_page', 'Exit pages']] },
    { id: 'sources', title: 'Acquisition', metrics: ['visitors', 'bounce_rate'],
      tabs: [['channel', 'Channels'], ['source', 'Sources'], ['referrer_url', 'Referrers'],
        ['utm_campaign', 'Campaigns']] },
    { id: 'locations', title: 'Locations', metrics: ['visitors'],
      tabs: [['country', 'Countries'], ['region', 'Regions'], ['city', 'Cities']] },
    { id: 'devices', title: 'Technology', metrics: ['visitors'],
      tabs: [['device', 'Devices'], ['browser', 'Browsers'], ['os', 'Operating systems']] },
  ];
  const DIM_LABELS = {
    page: 'Page', entry_page: 'Entry page', exit_page: 'Exit page', channel: 'Channel',
    source: 'Source', referrer_url: 'Referrer', utm_campaign: 'Campaign', utm_source: 'UTM source',
    utm_medium: 'UTM medium', utm_content: 'UTM content', utm_term: 'UTM term', country: 'Country',
    region: 'Region', city: 'City', device: 'Device', browser: 'Browser',
    browser_version: 'Browser version', os: 'OS', os_version: 'OS version', screen: 'Screen',
  };
  const COLUMN_LABELS = { visitors: 'Visitors', pageviews: 'Pageviews', bounce_rate: 'Bounce',
    events: 'Events' };
  const PROP_METRICS = ['visitors', 'events'];
  const STEP_TYPES = [['pageview', 'Page view'], ['custom', 'Custom event'], ['click', 'Click'],
    ['form', 'Form']];
  const STEP_HINTS = { pageview: '/path or /prefix/*', custom: 'event name', click: 'name (empty: any)',
    form: 'name or form_id (empty: any)' };
  const MAX_STEPS = 8;
  // Funnels filter on session attributes only (SPEC §8): page and property filters are left out.
  const NOT_FOR_FUNNELS = new Set(['page', 'entry_page', 'exit_page']);
  const OPERATOR_LABELS = { is: 'is', is_not: 'is not', contains: 'contains',
    not_contains: 'does not contain', starts_with: 'starts with', ends_with: 'ends with' };

  const state = {
    key: null,
    period: '30d',
    from: '',
    to: '',
    filters: [],
    tabs: Object.fromEntries(PANELS.map((p) => [p.id, p.tabs[0][0]])),
    propKey: '',
    funnel: [],
    generation: 0,
    liveTimer: null,
    refreshTimer: null,
  };

  // --- dates in the site's timezone -----------------------------------------------------------

  function today() {
    // en-CA formats as YYYY-MM-DD.
    return new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit',
      day: '2-digit' }).format(new Date());
  }
  function addDays(day, n) {
    const [y, m, d] = day.split('-').map(Number);
    return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
  }
  function addMonths(day, n) {
    const [y, m] = day.split('-').map(Number);
    return new Date(Date.UTC(y, m - 1 + n, 1)).toISOString().slice(0, 10);
  }
  function daysBetween(a, b) {
    return Math.round((Date.parse(b) - Date.parse(a)) / 86400000);
  }

  /** The period as query fields: {period} or {date_range} (end exclusive). */
  function rangeFields() {
    if (state.period === 'custom') return { date_range: { start: state.from, end: addDays(state.to, 1) } };
    return { period: state.period };
  }

  /** start/end dates (end exclusive) for GET endpoints that take dates. */
  function rangeDates() {
    const t = today();
    const n = { '7d': 7, '14d': 14, '30d': 30, '90d': 90 }[state.period];
    if (state.period === 'custom') return [state.from, addDays(state.to, 1)];
    if (state.period === 'yesterday') return [addDays(t, -1), t];
    if (n) return [addDays(t, 1 - n), addDays(t, 1)];
    if (state.period === '12m') return [addMonths(t, -11), addDays(t, 1)];
    if (state.period === 'all') return ['2000-01-01', addDays(t, 1)];
    return [t, addDays(t, 1)];  // realtime, today
  }

  function granularity() {
    if (['realtime', 'today', 'yesterday'].includes(state.period)) return 'hour';
    if (['7d', '14d', '30d', '90d'].includes(state.period)) return 'date';
    if (state.period === 'custom') {
      const days = daysBetween(state.from, state.to) + 1;
      return days <= 2 ? 'hour' : days <= 92 ? 'date' : 'month';
    }
    return 'month';  // 12m, all
  }

  // --- API ---------------------------------------------------------------------------------------

  class AuthError extends Error {}

  async function api(path, body) {
    // The site header lets an operator sign in with the admin token instead of a read key.
    const init = { headers: { 'x-api-key': state.key, 'x-clickport-site': DOMAIN }, cache: 'no-store' };
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    if (response.status === 401) throw new AuthError((data && data.message) || 'invalid API key');
    if (!response.ok) throw new Error((data && data.message) || `${path}: HTTP ${response.status}`);
    return data;
  }

  function queryBody(fields) {
    return { timezone: TZ, ...rangeFields(), filters: state.filters, ...fields };
  }
  function query(fields) {
    return api('/api/query', queryBody(fields));
  }

  /** The same request as CSV (`Accept: text/csv`), saved as `filename`. */
  async function download(path, body, filename) {
    const init = { headers: { 'x-api-key': state.key, 'x-clickport-site': DOMAIN, accept: 'text/csv' },
      cache: 'no-store' };
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (!response.ok) {
      let data = null;
      try { data = await response.json(); } catch (e) { /* not JSON */ }
      throw new Error((data && data.message) || `${path}: HTTP ${response.status}`);
    }
    const url = URL.createObjectURL(await response.blob());
    const link = el('a', { href: url, download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  function safeName(text) {
    return text.replace(/[^A-Za-z0-9_.-]+/g, '-');
  }

  function datesQuery(extra) {
    const [start, end] = rangeDates();
    return new URLSearchParams({ start_date: start, end_date: end, timezone: TZ, ...extra });
  }

  /** What each CSV button downloads: [path, body or undefined, file name]. */
  function csvRequest(name) {
    if (name === 'chart') {
      const dim = granularity();
      return ['/api/query', queryBody({ metrics: ['visitors', 'pageviews'], dimensions: [dim], limit: 10000 }),
        `visitors-by-${dim}.csv`];
    }
    if (name === 'props') {
      if (!state.propKey) return null;
      return ['/api/query', queryBody({ metrics: PROP_METRICS, dimensions: ['prop:' + state.propKey],
        limit: 10000 }), safeName(`property-${state.propKey}.csv`)];
    }
    if (name === 'funnel') return state.funnel.length >= 2 ? ['/api/funnel', funnelBody(), 'funnel.csv'] : null;
    if (name === 'goals') return ['/api/goals?' + datesQuery(), undefined, 'goals.csv'];
    const panel = PANELS.find((p) => p.id === name);
    const dim = state.tabs[panel.id];
    return ['/api/query', queryBody({ metrics: panel.metrics, dimensions: [dim], limit: 10000 }),
      safeName(`${dim}.csv`)];
  }

  async function downloadCsv(name, button) {
    const request = csvRequest(name);
    if (!request) return;
    button.disabled = true;
    try {
      await download(...request);
      button.dataset.downloaded = request[2];
    } catch (e) {
      $('error').textContent = e.message;
      $('error').hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  // --- formatting --------------------------------------------------------------------------------

  const numberFormat = new Intl.NumberFormat('en-US');
  function compact(n) {
    if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(n >= 1e5 ? 0 : 1) + 'k';
    return numberFormat.format(n);
  }
  function duration(seconds) {
    seconds = Math.round(seconds || 0);
    if (seconds < 60) return seconds + 's';
    const m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return `${m}m ${String(s).padStart(2, '0')}s`;
    return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
  }
  function formatMetric(metric, value) {
    value = value || 0;
    switch (metric) {
      case 'views_per_visit': return value.toFixed(2);
      case 'bounce_rate': case 'avg_scroll': return value + '%';
      case 'avg_duration': return duration(value);
      default: return compact(value);
    }
  }
  function timeLabel(label, dim) {
    if (dim === 'hour') return label.slice(11, 16);
    if (dim === 'date' || dim === 'week') {
      const d = new Date(label + 'T00:00:00Z');
      return d.toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
    }
    if (dim === 'month') {
      const d = new Date(label + '-01T00:00:00Z');
      return d.toLocaleDateString('en-US', { month: 'short', year: '2-digit', timeZone: 'UTC' });
    }
    return label;
  }

  function dimLabel(dim) {
    return dim.startsWith('prop:') ? dim.slice(5) : (DIM_LABELS[dim] || dim);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  // --- URL state (shareable; never holds the key) --------------------------------------------

  function readUrl() {
    const params = new URLSearchParams(location.search);
    const period = params.get('period');
    if (period) state.period = period;
    state.from = params.get('from') || addDays(today(), -6);
    state.to = params.get('to') || today();
    state.propKey = params.get('prop') || '';
    state.funnel = params.getAll('step').map((s) => {
      const at = s.indexOf(':');
      return at < 0 ? { type: s, match: '' } : { type: s.slice(0, at), match: s.slice(at + 1) };
    }).filter((s) => STEP_TYPES.some(([t]) => t === s.type)).slice(0, MAX_STEPS);
    state.filters = params.getAll('filter').map((f) => {
      const [dimension, operator, ...rest] = f.split('|');
      return { dimension, operator, value: rest.join('|') };
    }).filter((f) => f.dimension && OPERATOR_LABELS[f.operator]);
  }
  function writeUrl() {
    const params = new URLSearchParams();
    params.set('period', state.period);
    if (state.period === 'custom') { params.set('from', state.from); params.set('to', state.to); }
    state.filters.forEach((f) => params.append('filter', [f.dimension, f.operator, f.value].join('|')));
    if (state.propKey) params.set('prop', state.propKey);
    state.funnel.forEach((s) => params.append('step', `${s.type}:${s.match}`));
    history.replaceState(null, '', location.pathname + '?' + params.toString());
  }

  // --- rendering ---------------------------------------------------------------------------------

  function renderFilters() {
    const box = $('filters');
    box.replaceChildren();
    state.filters.forEach((f, i) => {
      box.append(el('span', { class: 'chip', 'data-dimension': f.dimension },
        el('span', { text: `${dimLabel(f.dimension)} ${OPERATOR_LABELS[f.operator]} ` }),
        el('b', { text: f.value }),
        el('button', { type: 'button', class: 'x', title: 'Remove filter', 'aria-label': 'Remove filter',
          text: '×', onclick: () => { state.filters.splice(i, 1); refresh(); } })));
    });
    if (state.filters.length > 1) {
      box.append(el('button', { type: 'button', class: 'link', text: 'Clear all',
        onclick: () => { state.filters = []; refresh(); } }));
    }
  }

  function addFilter(dimension, value) {
    state.filters = state.filters.filter((f) => f.dimension !== dimension);
    state.filters.push({ dimension, operator: 'is', value });
    refresh();
  }

  function renderKpis(data) {
    const box = $('kpis');
    box.replaceChildren();
    const change = (data.comparison && data.comparison.change) || {};
    for (const metric of METRICS) {
      const value = data.results[metric];
      const delta = change[metric];
      let deltaNode;
      if (delta === null || delta === undefined) {
        deltaNode = el('span', { class: 'delta flat', text: data.comparison ? 'new' : '' });
      } else {
        // Lower is better for bounce rate (a point difference, not a percentage).
        const good = metric === 'bounce_rate' ? delta < 0 : delta > 0;
        const unit = metric === 'bounce_rate' ? ' pp' : '%';
        deltaNode = el('span', {
          class: 'delta ' + (delta === 0 ? 'flat' : good ? 'up' : 'down'),
          'data-change': delta,
          text: (delta > 0 ? '↑ ' : delta < 0 ? '↓ ' : '') + Math.abs(delta) + unit,
        });
      }
      box.append(el('div', { class: 'kpi', id: 'kpi-' + metric, 'data-metric': metric, 'data-value': value },
        el('div', { class: 'label', text: LABELS[metric] }),
        el('div', { class: 'value', text: formatMetric(metric, value) }),
        deltaNode));
    }
  }

  function renderChart(rows, dim) {
    const box = $('chart');
    const W = 960, H = 260, L = 48, R = 16, T = 14, B = 30;
    const NS = 'http://www.w3.org/2000/svg';
    const svgEl = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img',
      'aria-label': 'Visitors and pageviews over time', 'data-points': rows.length });
    const max = Math.max(1, ...rows.map((r) => Math.max(r.visitors || 0, r.pageviews || 0)));
    const step = niceStep(max / 4);
    const top = Math.max(step, Math.ceil(max / step) * step);
    const n = rows.length;
    const x = (i) => L + (n <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
    const y = (v) => T + (H - T - B) * (1 - v / top);
    for (let v = 0; v <= top + 1e-9; v += step) {
      svg.append(svgEl('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
      svg.append(svgEl('text', { x: L - 8, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, compact(v)));
    }
    const every = Math.max(1, Math.ceil(n / 10));
    rows.forEach((r, i) => {
      if (i % every === 0) {
        // The first and last labels are anchored inwards so they are never clipped.
        const anchor = n > 1 && i === 0 ? 'start' : n > 1 && i === n - 1 ? 'end' : 'middle';
        svg.append(svgEl('text', { x: x(i), y: H - 8, class: 'axis', 'text-anchor': anchor },
          timeLabel(r[dim], dim)));
      }
    });
    if (n) {
      const line = (metric) => rows.map((r, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(r[metric] || 0).toFixed(1)}`).join('');
      svg.append(svgEl('path', { d: `${line('visitors')}L${x(n - 1)},${y(0)}L${x(0)},${y(0)}Z`, class: 'area' }));
      svg.append(svgEl('path', { d: line('pageviews'), class: 'line pageviews' }));
      svg.append(svgEl('path', { d: line('visitors'), class: 'line visitors' }));
      rows.forEach((r, i) => {
        const dot = svgEl('circle', { cx: x(i), cy: y(r.visitors || 0), r: n > 60 ? 1.5 : 3, class: 'dot' });
        dot.append(svgEl('title', {}, `${r[dim]}: ${r.visitors || 0} visitors, ${r.pageviews || 0} pageviews`));
        svg.append(dot);
      });
    }
    box.replaceChildren(svg);
    $('granularity').textContent = ` · by ${dim}`;
  }

  function niceStep(raw) {
    if (raw <= 1) return 1;
    const mag = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
    return 10 * mag;
  }

  function buildPanels() {
    const grid = $('panels');
    grid.replaceChildren();
    for (const panel of PANELS) {
      const tabs = el('div', { class: 'tabs', role: 'tablist' });
      for (const [dim, label] of panel.tabs) {
        tabs.append(el('button', { type: 'button', role: 'tab', 'data-dim': dim, text: label,
          onclick: () => { state.tabs[panel.id] = dim; loadPanel(panel, state.generation); } }));
      }
      const csv = el('button', { type: 'button', class: 'csv', 'data-csv': panel.id, title: 'Download CSV',
        text: 'CSV', onclick: (e) => downloadCsv(panel.id, e.currentTarget) });
      grid.append(el('section', { class: 'card panel', id: 'panel-' + panel.id },
        el('div', { class: 'card-head' }, el('h2', { text: panel.title }),
          el('span', { class: 'tools' }, tabs, csv)),
        el('table', { class: 'rows' })));
    }
  }

  async function loadPanel(panel, generation) {
    const dim = state.tabs[panel.id];
    const section = $('panel-' + panel.id);
    section.querySelectorAll('[role=tab]').forEach((b) => b.setAttribute('aria-selected', b.dataset.dim === dim));
    section.dataset.dimension = dim;
    const data = await query({ metrics: panel.metrics, dimensions: [dim], limit: 10 });
    if (generation !== state.generation) return;
    renderRows(section.querySelector('table'), dim, panel.metrics, data.results, 'No data yet');
  }

  /** A breakdown table: one clickable row per value (click = filter on it), bars by the first metric. */
  function renderRows(table, dim, metrics, rows, empty) {
    const head = el('tr', {}, el('th', { text: dimLabel(dim) }),
      ...metrics.map((m) => el('th', { class: 'num', text: COLUMN_LABELS[m] || LABELS[m] })));
    table.replaceChildren(head);
    if (!rows.length) {
      table.append(el('tr', {}, el('td', { class: 'muted', colspan: metrics.length + 1, text: empty })));
      return;
    }
    const max = Math.max(1, ...rows.map((r) => r[metrics[0]] || 0));
    const active = state.filters.some((f) => f.dimension === dim);
    for (const row of rows) {
      const value = String(row[dim]);
      const pct = (100 * (row[metrics[0]] || 0)) / max;
      table.append(el('tr', {
        class: 'row' + (active ? ' active' : ''), 'data-value': value, tabindex: 0,
        title: `Filter: ${dimLabel(dim)} is ${value}`,
        onclick: () => addFilter(dim, value),
        onkeydown: (e) => { if (e.key === 'Enter') addFilter(dim, value); },
      },
      el('td', { class: 'name', style: `--pct:${pct.toFixed(1)}%` }, el('span', { text: value })),
      ...metrics.map((m) => el('td', { class: 'num', 'data-metric': m, text: formatMetric(m, row[m]) }))));
    }
  }

  // --- custom properties -------------------------------------------------------------------------

  /** The keys seen in the period (GET /api/props) in the chooser, then the chosen key's rows. */
  async function loadProps(generation) {
    const keys = (await api('/api/props?' + datesQuery({ limit: 100 }))).results.map((r) => r.key);
    if (generation !== state.generation) return;
    const filtered = state.filters.find((f) => f.dimension.startsWith('prop:'));
    if (!state.propKey && filtered) state.propKey = filtered.dimension.slice(5);
    if (state.propKey && !keys.includes(state.propKey)) keys.unshift(state.propKey);
    if (!state.propKey && keys.length) state.propKey = keys[0];
    const select = $('prop-key');
    select.replaceChildren(...keys.map((k) => el('option', { value: k, text: k })));
    select.value = state.propKey;
    select.disabled = !keys.length;
    const section = $('panel-props');
    const table = section.querySelector('table');
    if (!state.propKey) {
      section.dataset.dimension = '';
      table.replaceChildren(el('tr', {}, el('td', { class: 'muted',
        text: 'No custom properties in this period (meta_keys / meta_values of events)' })));
      return;
    }
    const dim = 'prop:' + state.propKey;
    section.dataset.dimension = dim;
    const data = await query({ metrics: PROP_METRICS, dimensions: [dim], limit: 10 });
    if (generation !== state.generation) return;
    renderRows(table, dim, PROP_METRICS, data.results, 'No events in this period');
  }

  // --- funnel ------------------------------------------------------------------------------------

  function funnelFilters() {
    return state.filters.filter((f) => !NOT_FOR_FUNNELS.has(f.dimension) && !f.dimension.startsWith('prop:'));
  }

  function funnelBody() {
    return { steps: state.funnel.map((s) => ({ type: s.type, match: s.match })), timezone: TZ,
      ...rangeFields(), filters: funnelFilters() };
  }

  function stepRow(step, index, count) {
    const type = el('select', { class: 'step-type', 'aria-label': `Step ${index + 1} type` },
      ...STEP_TYPES.map(([value, label]) => el('option', { value, text: label })));
    type.value = step.type;
    const match = el('input', { class: 'step-match', type: 'text', value: step.match,
      'aria-label': `Step ${index + 1} match`, placeholder: STEP_HINTS[step.type] });
    type.addEventListener('change', () => { match.placeholder = STEP_HINTS[type.value]; });
    const remove = el('button', { type: 'button', class: 'link step-remove', title: 'Remove step',
      'aria-label': `Remove step ${index + 1}`, text: '×', disabled: count <= 2,
      onclick: () => { const steps = readSteps(); steps.splice(index, 1); renderStepEditor(steps); } });
    return el('li', { class: 'step' }, type, match, remove);
  }

  function renderStepEditor(steps) {
    if (steps.length < 2) {
      steps = steps.concat([{ type: 'pageview', match: '/' }, { type: 'pageview', match: '' }])
        .slice(0, 2);
    }
    $('funnel-steps').replaceChildren(...steps.map((s, i) => stepRow(s, i, steps.length)));
    $('funnel-add').disabled = steps.length >= MAX_STEPS;
  }

  function readSteps() {
    return Array.from($('funnel-steps').querySelectorAll('li.step')).map((li) => ({
      type: li.querySelector('.step-type').value, match: li.querySelector('.step-match').value.trim() }));
  }

  async function loadFunnel(generation) {
    const card = $('funnel-card');
    const left = state.filters.length - funnelFilters().length;
    $('funnel-note').textContent = left ? 'page and property filters do not apply' : '';
    if (state.funnel.length < 2) {
      card.dataset.state = 'empty';
      $('funnel-chart').replaceChildren(el('p', { class: 'muted',
        text: 'Define 2–8 steps and press “Show funnel”.' }));
      return;
    }
    card.dataset.state = 'loading';
    let data;
    try {
      data = await api('/api/funnel', funnelBody());
    } catch (e) {
      if (e instanceof AuthError) throw e;
      if (generation !== state.generation) return;
      $('funnel-error').textContent = e.message;
      $('funnel-error').hidden = false;
      $('funnel-chart').replaceChildren();
      card.dataset.state = 'error';
      return;
    }
    if (generation !== state.generation) return;
    $('funnel-error').hidden = true;
    renderFunnel(data);
    card.dataset.state = 'ready';
  }

  /** Bars of sessions per step (the drop-off from the previous step drawn faintly above),
   * with sessions, conversion and drop-off written on each. */
  function renderFunnel(data) {
    const NS = 'http://www.w3.org/2000/svg';
    const svgEl = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const steps = data.steps;
    const W = 600, H = 250, T = 34, B = 46, gap = 14;
    const n = steps.length;
    const bw = (W - gap * (n + 1)) / n;
    const top = Math.max(1, steps[0].sessions);
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, class: 'funnel-svg', role: 'img',
      'aria-label': 'Funnel: sessions per step', 'data-steps': n,
      'data-conversion': data.conversion_rate });
    steps.forEach((s, i) => {
      const x = gap + i * (bw + gap);
      const g = svgEl('g', { class: 'fstep', 'data-step': i + 1, 'data-name': s.name,
        'data-sessions': s.sessions, 'data-visitors': s.visitors, 'data-conversion': s.conversion_rate,
        'data-dropoff': s.dropoff });
      if (i > 0 && s.dropoff > 0) {
        g.append(svgEl('rect', { x, y: y(steps[i - 1].sessions), width: bw,
          height: y(s.sessions) - y(steps[i - 1].sessions), class: 'drop' }));
      }
      g.append(svgEl('rect', { x, y: y(s.sessions), width: bw, height: H - B - y(s.sessions), class: 'bar' }));
      g.append(svgEl('text', { x: x + bw / 2, y: y(i > 0 ? steps[i - 1].sessions : s.sessions) - 18,
        class: 'value', 'text-anchor': 'middle' }, `${compact(s.sessions)} · ${s.conversion_rate}%`));
      if (i > 0) {
        g.append(svgEl('text', { x: x + bw / 2, y: y(steps[i - 1].sessions) - 5, class: 'dropoff',
          'text-anchor': 'middle' }, `−${compact(s.dropoff)} dropped`));
      }
      const name = s.name.length > 22 ? s.name.slice(0, 21) + '…' : s.name;
      g.append(svgEl('text', { x: x + bw / 2, y: H - B + 16, class: 'axis', 'text-anchor': 'middle' },
        `${i + 1}. ${name}`));
      g.append(svgEl('text', { x: x + bw / 2, y: H - B + 32, class: 'axis', 'text-anchor': 'middle' },
        `${compact(s.visitors)} visitors`));
      g.append(svgEl('title', {}, `${s.name}: ${s.sessions} sessions, ${s.visitors} visitors, ` +
        `${s.conversion_rate}% of step 1, ${s.dropoff} dropped`));
      svg.append(g);
    });
    $('funnel-chart').replaceChildren(svg, el('p', { class: 'muted funnel-total',
      text: `Overall conversion ${data.conversion_rate}%` }));
  }

  async function loadGoals(generation) {
    const data = await api('/api/goals?' + datesQuery());
    if (generation !== state.generation) return;
    const table = $('goals');
    table.replaceChildren(el('tr', {}, el('th', { text: 'Goal' }), el('th', { class: 'num', text: 'Visitors' }),
      el('th', { class: 'num', text: 'Conversions' }), el('th', { class: 'num', text: 'Revenue' })));
    const goals = data.goals || [];
    if (!goals.length) {
      table.append(el('tr', {}, el('td', { class: 'muted', colspan: 4,
        text: 'No goals configured (clickport goals create …)' })));
    }
    for (const g of goals) {
      const count = g.submissions ?? g.events ?? g.clicks ?? g.pageviews ?? 0;
      table.append(el('tr', { 'data-goal': g.name },
        el('td', { class: 'name' }, el('span', { text: g.name }), el('small', { class: 'muted', text: ' ' + g.type })),
        el('td', { class: 'num', text: compact(g.visitors || 0) }),
        el('td', { class: 'num', 'data-metric': 'conversions', text: compact(count) }),
        el('td', { class: 'num', 'data-metric': 'revenue', text: revenue(g) })));
    }
  }

  function revenue(goal) {
    const total = goal.total_revenue;
    if (total === undefined || total === null) return '';
    const money = (amount, currency) => {
      try {
        return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(amount);
      } catch (e) {
        return `${amount} ${currency || ''}`.trim();
      }
    };
    if (typeof total === 'number') return goal.currency ? money(total, goal.currency) : String(total);
    return Object.entries(total).map(([c, a]) => money(a, c)).join(' + ');
  }

  async function loadLive() {
    try {
      const data = await api('/api/realtime');
      $('live-count').textContent = data.count;
      $('live').hidden = false;
    } catch (e) {
      if (e instanceof AuthError) signOut(e.message);
    }
  }

  // --- refresh cycle -----------------------------------------------------------------------------

  async function refresh() {
    writeUrl();
    renderFilters();
    const generation = ++state.generation;
    const main = $('dash');
    main.dataset.state = 'loading';
    $('error').hidden = true;
    const dim = granularity();
    try {
      const [kpis, series] = await Promise.all([
        query({ metrics: METRICS, include_comparison: true }),
        query({ metrics: ['visitors', 'pageviews'], dimensions: [dim], limit: 10000 }),
        ...PANELS.map((p) => loadPanel(p, generation)),
        loadGoals(generation),
        loadProps(generation),
        loadFunnel(generation),
      ]);
      if (generation !== state.generation) return;
      renderKpis(kpis);
      renderChart(series.results, dim);
      main.dataset.state = 'ready';
      main.dataset.generation = generation;
    } catch (e) {
      if (generation !== state.generation) return;
      if (e instanceof AuthError) return signOut(e.message);
      $('error').textContent = e.message;
      $('error').hidden = false;
      main.dataset.state = 'error';
    }
    clearTimeout(state.refreshTimer);
    if (state.period === 'realtime') state.refreshTimer = setTimeout(refresh, 30000);
  }

  // --- sign-in -----------------------------------------------------------------------------------

  function signOut(message) {
    try { sessionStorage.removeItem(KEY_STORE); } catch (e) { /* storage blocked */ }
    state.key = null;
    clearInterval(state.liveTimer);
    clearTimeout(state.refreshTimer);
    $('dash').hidden = true;
    $('signout').hidden = true;
    $('live').hidden = true;
    $('signin').hidden = false;
    $('signin-error').textContent = message || '';
  }

  function signIn(key) {
    state.key = key;
    $('signin').hidden = true;
    $('dash').hidden = false;
    $('signout').hidden = false;
    buildPanels();
    refresh();
    loadLive();
    clearInterval(state.liveTimer);
    state.liveTimer = setInterval(loadLive, LIVE_EVERY_MS);
  }

  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = $('key').value.trim();
    state.key = key;
    try {
      await api('/api/realtime');
    } catch (err) {
      $('signin-error').textContent = err.message;
      return;
    }
    try { sessionStorage.setItem(KEY_STORE, key); } catch (err) { /* memory only */ }
    $('key').value = '';
    signIn(key);
  });
  $('signout').addEventListener('click', () => signOut(''));
  document.querySelectorAll('button.csv[data-csv]').forEach((button) => {
    button.addEventListener('click', () => downloadCsv(button.dataset.csv, button));
  });
  $('prop-key').addEventListener('change', () => {
    state.propKey = $('prop-key').value;
    writeUrl();
    loadProps(state.generation).catch((e) => { $('error').textContent = e.message; $('error').hidden = false; });
  });
  $('funnel-add').addEventListener('click', () => {
    const steps = readSteps();
    if (steps.length < MAX_STEPS) renderStepEditor(steps.concat([{ type: 'pageview', match: '' }]));
  });
  $('funnel-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.funnel = readSteps();
    writeUrl();
    loadFunnel(state.generation).catch((err) => { if (err instanceof AuthError) signOut(err.message); });
  });

  $('period').addEventListener('change', () => {
    const value = $('period').value;
    $('custom').hidden = value !== 'custom';
    if (value === 'custom') return;
    state.period = value;
    refresh();
  });
  $('custom-apply').addEventListener('click', () => {
    const from = $('custom-from').value, to = $('custom-to').value;
    if (!from || !to || from > to) return;
    state.period = 'custom';
    state.from = from;
    state.to = to;
    refresh();
  });

  readUrl();
  $('period').value = state.period;
  $('custom').hidden = state.period !== 'custom';
  $('custom-from').value = state.from;
  $('custom-to').value = state.to;
  renderStepEditor(state.funnel);
  let saved = null;
  try { saved = sessionStorage.getItem(KEY_STORE); } catch (e) { /* storage blocked */ }
  if (saved) signIn(saved); else signOut('');
})();
