/*
 * Hearth parents' UI: a single-page app with hash routing, hand-written
 * vanilla JavaScript (ES2020), no framework and no build step. It talks
 * only to the JSON API under /api/v1 (internal/api/openapi.json).
 *
 * Every control a test uses carries a stable data-testid (forms controls
 * also use it as their id). {id} is a device, profile, grant or token id,
 * {rowid} a query-log row id, {i} a schedule's or a time budget's index
 * (0-based, in order),
 * {tag} a category or service id, {day} one of mon tue wed thu fri sat sun.
 *
 * data-testid list:
 *   Shell:      loading, toast, nav-dashboard, nav-devices, nav-profiles,
 *               nav-log, nav-settings, nav-logout, banner, leave-dialog,
 *               leave-stay, leave-discard, lang-select
 *   Screens:    screen-wizard-1, screen-wizard-2, screen-login,
 *               screen-dashboard, screen-devices, screen-device,
 *               screen-profiles, screen-profile, screen-log, screen-settings,
 *               screen-error
 *   Wizard:     wizard-code, wizard-password, wizard-password2, wizard-next,
 *               wizard-timezone, wizard-timezone-text,
 *               wizard-default-profile, wizard-preset-description,
 *               wizard-finish, wizard-error, wizard-default-profile-note,
 *               wizard-lists
 *   Login:      login-user, login-password, login-submit, login-error
 *   Dashboard:  dash-queries, dash-blocked, dash-hourly, dash-dropped, dash-top-{tag},
 *               dash-device-{id}, dash-empty-top, pause-status,
 *               pause-all-30, pause-all-60, pause-all-tomorrow,
 *               resume-all, dashboard-error, dash-id-guesses, dash-now,
 *               dash-now-{id}, dash-lists, lists-progress, lists-empty,
 *               lists-empty-{tag},
 *               lists-problem-{source}, dash-budgets,
 *               dash-budget-{id}-{tag}, dash-budget-text-{id}-{tag},
 *               extra-{id}-{tag}-15, extra-{id}-{tag}-30, extra-{id}-{tag}-60
 *   Devices:    new-devices, new-device-{id}, new-device-name-{id},
 *               new-device-profile-{id}, new-device-claim-{id},
 *               new-device-error-{id}, device-list, device-row-{id},
 *               device-add-name, device-add-ip, device-add-mac,
 *               device-add-profile, device-add-submit, device-add-error,
 *               device-weak-{id}
 *   Device:     device-back, device-readonly-note, device-name,
 *               device-profile-select, device-effective-profile,
 *               device-save, device-error, device-pause-30,
 *               device-pause-60, device-pause-tomorrow, device-grants,
 *               grant-row-{id}, grant-end-{id}, device-allow-target,
 *               device-allow-duration, device-allow-submit,
 *               device-grant-error, device-delete, device-dnsid,
 *               device-dnsid-weak, device-dnsid-status, device-dnsid-rotate,
 *               device-dnsid-error, dnsid-setup, dnsid-host, dnsid-doh-url,
 *               dnsid-id, dnsid-qr, dnsid-mobileconfig
 *   Profiles:   profile-list, profile-row-{id}, profile-new-name,
 *               profile-new-preset, profile-new-submit, profile-new-error
 *   Profile:    profile-back, profile-readonly-note, profile-copy-name,
 *               profile-copy, profile-copy-error, profile-form,
 *               profile-name, profile-preset,
 *               profile-preset-description, profile-categories,
 *               profile-cat-{tag}, profile-svc-{tag}, profile-safe-search,
 *               profile-youtube, profile-bypass, profile-query-log,
 *               profile-allow, profile-deny, profile-timezone,
 *               schedule-list, schedule-empty, schedule-add,
 *               schedule-{i}, schedule-name-{i}, schedule-kind-{i},
 *               schedule-day-{i}-{day}, schedule-from-{i}, schedule-to-{i},
 *               schedule-cats-{i}, schedule-cat-{i}-{tag},
 *               schedule-remove-{i}, budget-list, budget-empty,
 *               budget-add, budget-{i}, budget-tag-{i}, budget-school-{i},
 *               budget-weekend-{i}, budget-remove-{i}, profile-save,
 *               profile-error, profile-delete
 *   Query log:  log-device, log-decision, log-name, log-refresh,
 *               log-table, log-rows, log-row-{rowid}, log-decision-{rowid},
 *               log-reason-{rowid}, log-allow-duration-{rowid},
 *               log-allow-what-{rowid},
 *               log-allow-{rowid}, log-allowed-{rowid}, log-more,
 *               log-empty, log-disabled, log-error
 *   Settings:   settings-timezone, settings-timezone-text,
 *               settings-default-profile, settings-default-profile-note,
 *               settings-save, settings-error,
 *               password-current, password-new, password-new2,
 *               password-submit, password-error, token-list,
 *               token-row-{id}, token-facts-{id}, token-revoke-{id}, token-name,
 *               token-scope, token-expires,
 *               token-create, token-new, token-new-value, token-copy,
 *               token-error, sources-list, source-state-{source}, logout,
 *               backup, backup-export, backup-file, backup-replace,
 *               backup-import, backup-error
 *   Requests:   screen-requests, nav-requests, requests-waiting,
 *               requests-error, request-{id}, request-{id}-message,
 *               request-{id}-status, request-{id}-{choice}, digest,
 *               digest-{device}, notify-status, notify-{channel}
 *
 * Values a test sets: schedule-kind-{i} is "pause", "block" or
 * "allow_only"; log-decision is "", "allowed", "blocked", "rewritten",
 * "nxdomain" or "nodata"; log-allow-duration-{rowid} is "30", "60",
 * "today" or "always"; log-allow-what-{rowid} is "tag" (the service or
 * category the block came from) or "name"; device-allow-duration is
 * minutes ("30", "60", "1440"); a request's {choice} is "15m", "1h",
 * "today", "always" or "deny". Forms read their
 * controls when submitted, so setting .value without an input event works;
 * only what changes the page as you pick needs a "change" event: the
 * category checkboxes of schedule-cats-{i} show once schedule-kind-{i} is
 * "block" or "allow_only", and log-device / log-decision reload the log
 * (log-refresh does too). Log rows carry data-action (the decision) and
 * data-name. Under 700px the navigation is a bottom tab bar without
 * nav-logout; use logout on the settings screen there.
 */
(() => {
  'use strict';

  const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  const ALLOW_DURATIONS = [30, 60, 1440];

  // ------------------------------------------------------------- language

  // LANG is the page's language, which the server chose (the language
  // menu's cookie, else Accept-Language) and wrote in <html lang>.
  const LANG = document.documentElement.lang || 'en';

  // t translates an English UI string into LANG, filling {name}
  // placeholders from vars. Its first argument is always a plain string
  // literal, so that the catalogue test (internal/web/i18n_test.go) sees
  // every key; see docs/translations.md. Tables of labels are functions,
  // not constants, as the catalogue arrives after this script runs.
  function t(key, vars) {
    let s = (state.msgs && state.msgs[key]) || key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
  }

  // loadMessages reads LANG's catalogue; English needs none (the keys are
  // the English text), and a failure leaves the UI in English.
  async function loadMessages() {
    if (LANG === 'en') return;
    try {
      const res = await fetch(`/static/i18n/${encodeURIComponent(LANG)}.json`, { credentials: 'same-origin' });
      if (res.ok) state.msgs = await res.json();
    } catch (e) {
      // English it is.
    }
  }

  // langMenu wires the header's language menu: a choice is kept in a
  // cookie for this browser (the server reads it), "Automatic" removes it.
  function langMenu() {
    const sel = document.getElementById('lang');
    if (!sel) return;
    const m = /(?:^|;\s*)hearth-lang=([a-z]+)/.exec(document.cookie);
    sel.value = m ? m[1] : '';
    sel.addEventListener('change', () => {
      const secure = location.protocol === 'https:' ? '; Secure' : '';
      document.cookie = sel.value
        ? `hearth-lang=${sel.value}; Path=/; Max-Age=31536000; SameSite=Strict${secure}`
        : `hearth-lang=; Path=/; Max-Age=0; SameSite=Strict${secure}`;
      location.reload();
    });
  }

  function dayLabels() {
    return { mon: t('Mon'), tue: t('Tue'), wed: t('Wed'), thu: t('Thu'), fri: t('Fri'), sat: t('Sat'), sun: t('Sun') };
  }

  function scheduleKinds() {
    return [
      ['pause', t('Bedtime: pause everything (the allow list still works)')],
      ['block', t('Homework: block the chosen categories')],
      ['allow_only', t('Free time: the chosen categories are allowed only then')],
    ];
  }

  function decisions() {
    return [
      ['', t('Everything')],
      ['blocked', t('Blocked')],
      ['allowed', t('Allowed')],
      ['rewritten', t('Safe search applied')],
      ['nxdomain', t('Filter bypass stopped (no such site)')],
      ['nodata', t('Filter bypass stopped (empty answer)')],
    ];
  }

  // state is the session: who is logged in, the CSRF token for changes,
  // the catalog (read once per session) and a render counter, so that a
  // screen whose data arrives after the user moved on draws nothing.
  const state = {
    csrf: '',
    user: '',
    catalog: null,
    seq: 0,
    logFilter: { device: '', action: '', name: '' },
    // tz is the household's time zone (see zoneOpts).
    tz: '',
    // guard, when set, returns why leaving the screen loses work ("" when
    // it does not): the profile editor with unsaved edits.
    guard: null,
    // msgs is the catalogue of LANG (see t).
    msgs: null,
  };

  // ---------------------------------------------------------------- DOM

  // ATTRS are set as attributes: their properties differ or are read-only.
  const ATTRS = new Set(['for', 'role', 'list', 'spellcheck', 'novalidate', 'scope']);

  // h builds an element. Text always goes in as text, never as HTML.
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'testid') el.dataset.testid = v;
        else if (k === 'text') el.textContent = v;
        else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
        else if (ATTRS.has(k) || k.startsWith('aria-') || k.startsWith('data-')) el.setAttribute(k, v);
        else if (k in el) el[k] = v;
        else el.setAttribute(k, v);
      }
    }
    append(el, kids);
    return el;
  }

  function append(el, kids) {
    for (const kid of kids) {
      if (kid === null || kid === undefined || kid === false) continue;
      if (Array.isArray(kid)) append(el, kid);
      else el.append(kid instanceof Node ? kid : String(kid));
    }
  }

  // ctl builds a form control whose id and data-testid are testid.
  function ctl(tag, testid, props) {
    return h(tag, Object.assign({ id: testid, testid }, props || {}));
  }

  function field(label, control, hint) {
    return h('div', { class: 'field' },
      h('label', { for: control.id, text: label }),
      control,
      hint ? h('p', { class: 'hint', text: hint }) : null);
  }

  function checkbox(testid, label, checked, props) {
    const box = ctl('input', testid, Object.assign({ type: 'checkbox', checked: !!checked }, props || {}));
    return { box, label: h('label', { class: 'inline', for: testid }, box, label) };
  }

  // fill adds options ([value, text] pairs, or {group, items}) to a select
  // and selects value, adding it when it is not among them.
  function fill(select, items, value) {
    const add = (parent, [v, text]) => parent.append(h('option', { value: v, text }));
    for (const it of items) {
      if (Array.isArray(it)) add(select, it);
      else if (it.items.length) {
        const g = h('optgroup', { label: it.group });
        it.items.forEach((x) => add(g, x));
        select.append(g);
      }
    }
    if (value !== undefined) {
      if (![...select.options].some((o) => o.value === value)) add(select, [value, value || '(none)']);
      select.value = value;
    }
    return select;
  }

  function errorBox(testid) {
    return h('div', { class: 'error', role: 'alert', testid });
  }

  function view() {
    return document.getElementById('view');
  }

  // mount shows a screen unless the user has moved on since seq.
  function mount(seq, testid, ...kids) {
    if (seq !== state.seq) return null;
    const root = h('section', { class: 'screen', testid }, ...kids);
    view().replaceChildren(root);
    return root;
  }

  let toastTimer = 0;
  function toast(message, bad) {
    const el = document.getElementById('toast');
    el.textContent = message;
    el.className = 'toast show' + (bad ? ' bad' : '');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.className = 'toast'; }, 6000);
  }

  // busy disables a button while fn runs, so a double tap sends once.
  async function busy(btn, fn) {
    if (btn.disabled) return;
    btn.disabled = true;
    try {
      await fn();
    } finally {
      btn.disabled = false;
    }
  }

  // ---------------------------------------------------------------- API

  class APIError extends Error {
    constructor(status, message, field, retryAfter) {
      super(message);
      this.status = status;
      this.field = field || '';
      this.retryAfter = retryAfter || 0;
    }
  }

  // fieldOf returns the field a 400 message names ("time_zone: ...").
  function fieldOf(message) {
    const m = /^([A-Za-z_][\w.[\]-]*):/.exec(message);
    return m ? m[1] : '';
  }

  // api calls the JSON API. A 401 shows the login screen unless
  // opt.auth is false (setup, login and the session probe handle it).
  async function api(method, path, body, opt) {
    opt = opt || {};
    const headers = { Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, t('Hearth could not be reached. Check the connection and try again.'));
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (res.ok) return data;
    const message = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText}`.trim();
    const err = new APIError(res.status, message, res.status === 400 ? fieldOf(message) : '',
      Number(res.headers.get('Retry-After')) || 0);
    if (res.status === 401 && opt.auth !== false) loggedOut(t('Please log in again.'));
    throw err;
  }

  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined && v !== 0) u.set(k, String(v));
    const s = u.toString();
    return s ? '?' + s : '';
  }

  const enc = encodeURIComponent;

  // showError puts err next to its form and marks the field a 400 names.
  function showError(box, err, form) {
    box.textContent = err && err.message ? err.message : String(err);
    if (!form) return;
    form.querySelectorAll('.invalid').forEach((el) => el.classList.remove('invalid'));
    const name = err && err.field;
    if (!name) return;
    const candidates = [name, name.replace(/\[\d+\].*$/, ''), name.replace(/\..*$/, '')];
    for (const c of candidates) {
      const el = form.querySelector(`[data-field="${CSS.escape(c)}"]`);
      if (el) {
        el.classList.add('invalid');
        if (typeof el.focus === 'function') el.focus();
        return;
      }
    }
  }

  function clearError(box, form) {
    box.textContent = '';
    if (form) form.querySelectorAll('.invalid').forEach((el) => el.classList.remove('invalid'));
  }

  // formError is a mistake found before sending, with the field to mark.
  function formError(field, message) {
    return new APIError(400, message, field);
  }

  async function catalog() {
    if (!state.catalog) {
      const c = await api('GET', '/api/v1/catalog');
      state.catalog = {
        categories: (c && c.categories) || [],
        presets: (c && c.presets) || [],
        search_engines: (c && c.search_engines) || [],
      };
    }
    return state.catalog;
  }

  // ------------------------------------------------------------ helpers

  function titleCase(s) {
    return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
  }

  function tagName(cat, tag) {
    for (const c of cat.categories) {
      if (c.id === tag) return c.name || tag;
      for (const s of c.services || []) if (s.id === tag) return s.name || tag;
    }
    return tag;
  }

  function presetOf(cat, id) {
    return cat.presets.find((p) => p.id === id) || null;
  }

  function profileKind(p, cat) {
    if (!p.provisioned) return 'custom';
    return presetOf(cat, p.id) ? 'preset' : 'config';
  }

  function profileName(p) {
    return p.name || titleCase(p.id);
  }

  function profileTitle(id, profiles) {
    const p = profiles.find((x) => x.id === id);
    return p ? profileName(p) : titleCase(id);
  }

  // profileChoices groups profiles for a select: presets, the parents'
  // own and the config file's, each marked.
  function profileChoices(profiles, cat) {
    const groups = { preset: [], custom: [], config: [] };
    for (const p of profiles) {
      const kind = profileKind(p, cat);
      const suffix = kind === 'preset' ? ' ' + t('(ready-made)') : kind === 'config' ? ' ' + t('(config file)') : '';
      groups[kind].push([p.id, profileName(p) + suffix]);
    }
    return [
      { group: t('Your profiles'), items: groups.custom },
      { group: t('Ready-made presets'), items: groups.preset },
      { group: t('From the config file'), items: groups.config },
    ];
  }

  function deviceName(d) {
    return d.name || d.hostname || d.id;
  }

  // Times show in the household's time zone (Settings), not the
  // browser's: a parent away from home sees the clock bedtime runs on.
  // route() loads it; undefined (the browser's) only before that.
  function zoneOpts(o) {
    return state.tz ? Object.assign({ timeZone: state.tz }, o) : o;
  }

  // dayKey is the calendar day of d in the household's zone.
  function dayKey(d) {
    return d.toLocaleDateString('en-CA', zoneOpts({ year: 'numeric', month: '2-digit', day: '2-digit' }));
  }

  function sameDay(a, b) {
    return dayKey(a) === dayKey(b);
  }

  function clock(d) {
    return d.toLocaleTimeString(LANG, zoneOpts({ hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }));
  }

  // when says when a time is, from today's point of view: "21:30",
  // "tomorrow 07:00", "Fri 07:00".
  function when(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    const now = new Date();
    if (sameDay(d, now)) return clock(d);
    const tomorrow = new Date(now.getTime() + 86400000);
    if (sameDay(d, tomorrow)) return t('tomorrow {time}', { time: clock(d) });
    return d.toLocaleDateString(LANG, zoneOpts({ weekday: 'short', day: 'numeric', month: 'short' })) + ' ' + clock(d);
  }

  function logTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    const time = d.toLocaleTimeString(LANG, zoneOpts({ hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }));
    return sameDay(d, new Date()) ? time : d.toLocaleDateString(LANG, zoneOpts({ day: 'numeric', month: 'short' })) + ' ' + time;
  }

  function duration(minutes) {
    if (minutes === 1440) return t('1 day');
    if (minutes % 60 === 0) return minutes === 60 ? t('1 hour') : t('{n} hours', { n: minutes / 60 });
    return t('{n} min', { n: minutes });
  }

  function count(n) {
    return Number(n || 0).toLocaleString(LANG);
  }

  // zoneOffset is how far the household's clock is ahead of UTC at d, in
  // milliseconds.
  function zoneOffset(d) {
    const p = {};
    for (const x of new Intl.DateTimeFormat('en-US', zoneOpts({ hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })).formatToParts(d)) p[x.type] = Number(x.value);
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(d.getTime() / 1000) * 1000;
  }

  // zoneClock is the instant the household's clock reads hour:minute,
  // days after base's day there (0 today, 1 tomorrow).
  function zoneClock(base, hour, minute, days) {
    const [y, m, d] = dayKey(base).split('-').map(Number);
    const wall = Date.UTC(y, m - 1, d + days, hour, minute);
    let at = wall - zoneOffset(new Date(wall));
    at = wall - zoneOffset(new Date(at)); // again, in case a DST change lies between
    return new Date(at);
  }

  // nextMorning is the next 07:00 on the household's clock.
  function nextMorning() {
    const now = new Date();
    const m = zoneClock(now, 7, 0, 0);
    return m > now ? m : zoneClock(now, 7, 0, 1);
  }

  // pauses are the pause choices: minutes, or until the next morning.
  function pauses() {
    const morning = nextMorning();
    return [
      { key: '30', label: t('{n} min', { n: 30 }), body: { minutes: 30 } },
      { key: '60', label: t('1 hour'), body: { minutes: 60 } },
      {
        key: 'tomorrow',
        label: sameDay(morning, new Date()) ? t('Until 7:00 this morning') : t('Until 7:00 tomorrow'),
        body: { until: morning.toISOString() },
      },
    ];
  }

  function activeGrants(d) {
    const now = Date.now();
    return (d.grants || []).filter((g) => new Date(g.until).getTime() > now);
  }

  function pausedUntil(d) {
    let until = null;
    for (const g of activeGrants(d)) {
      if (g.kind === 'pause' && (!until || Date.parse(g.until) > Date.parse(until))) until = g.until;
    }
    return until;
  }

  function grantText(g, cat) {
    if (g.kind === 'pause') return t('Paused until {time}', { time: when(g.until) });
    return t('{what} allowed until {time}', { what: tagName(cat, g.target), time: when(g.until) });
  }

  // reasonWords says in plain words why a row was answered so, for rows
  // without the server's text.
  function reasonWords(row, cat) {
    const tag = row.tag ? tagName(cat, row.tag) : '';
    switch (row.reason) {
      case 'tag': return tag ? t('{what} is blocked', { what: tag }) : t('On a block list');
      case 'schedule': return tag ? t('{what} is blocked at this time (schedule)', { what: tag }) : t('Blocked by a schedule');
      case 'paused': return t('Paused (bedtime or a pause)');
      case 'deny-rule': return t('On the profile’s deny list');
      case 'allow-rule': return t('On the profile’s allow list');
      case 'protected': return tag ? t('{what} is always blocked', { what: tag }) : t('Always blocked');
      case 'safe-search': return t('Safe search turned on');
      case 'canary': case 'private-relay': case 'ddr': return t('Stops a way around the filter');
      case 'grant': return t('Allowed for a while by a parent');
      case 'budget': return tag ? t('Today’s time for {what} is used up', { what: tag }) : t('Time budget used');
      case 'none': return '';
      default: return row.reason || '';
    }
  }

  // ------------------------------------------------------------- time zone

  function detectedZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    } catch (e) {
      return 'UTC';
    }
  }

  function allZones() {
    try {
      if (typeof Intl.supportedValuesOf === 'function') return Intl.supportedValuesOf('timeZone');
    } catch (e) {
      // fall through
    }
    return [];
  }

  // zonePicker is a select of the browser's zones, prefilled, with a text
  // field for a zone the browser does not list.
  function zonePicker(prefix, current) {
    const zones = allZones().slice();
    const have = new Set(zones);
    for (const z of ['UTC', detectedZone(), current]) {
      if (z && !have.has(z)) {
        zones.unshift(z);
        have.add(z);
      }
    }
    const select = fill(ctl('select', `${prefix}-timezone`, { 'data-field': 'time_zone' }),
      zones.map((z) => [z, z.replace(/_/g, ' ')]), current || detectedZone());
    const text = ctl('input', `${prefix}-timezone-text`, {
      type: 'text', placeholder: t('e.g. Europe/Paris'), autocomplete: 'off', spellcheck: 'false',
    });
    return {
      nodes: [field(t('Time zone'), select), h('label', { for: text.id, class: 'hint', text: t('Not in the list? Type it:') }), text],
      value: () => text.value.trim() || select.value,
    };
  }

  // ---------------------------------------------------------------- shell

  function showNav(on) {
    document.getElementById('nav').classList.toggle('hidden', !on);
  }

  function markNav(page) {
    document.querySelectorAll('#nav a[data-route]').forEach((a) => {
      if (a.dataset.route === page) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
  }

  // askLeave asks whether to leave a screen with unsaved edits for target.
  function askLeave(message, target) {
    const stay = h('button', { type: 'button', class: 'primary', testid: 'leave-stay', text: t('Stay and keep editing') });
    const leave = h('button', { type: 'button', class: 'danger', testid: 'leave-discard', text: t('Leave without saving') });
    const dlg = h('dialog', { testid: 'leave-dialog', 'aria-labelledby': 'leave-title' },
      h('h2', { id: 'leave-title', text: t('Unsaved changes') }),
      h('p', { text: message }),
      h('div', { class: 'row end' }, leave, stay));
    stay.addEventListener('click', () => dlg.close());
    leave.addEventListener('click', () => {
      state.guard = null;
      dlg.close();
      location.hash = target;
    });
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
    stay.focus();
  }

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function loggedOut(message) {
    state.csrf = '';
    state.user = '';
    state.catalog = null;
    showLogin(message);
  }

  function fatal(seq, err) {
    mount(seq, 'screen-error', h('div', { class: 'card narrow' },
      h('h1', { text: t('Something went wrong') }),
      h('p', { text: err && err.message ? err.message : String(err) }),
      h('button', { type: 'button', class: 'primary', text: t('Try again'), on: { click: () => location.reload() } })));
  }

  async function route() {
    if (!state.csrf) return;
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((s) => {
      try {
        return decodeURIComponent(s);
      } catch (e) {
        return s;
      }
    });
    const [page, id] = parts;
    const seq = ++state.seq;
    state.guard = null;
    showNav(true);
    markNav(page || 'dashboard');
    refreshBanner();
    await loadZone();
    view().replaceChildren(h('p', { class: 'loading', testid: 'loading', text: t('Loading…') }));
    window.scrollTo(0, 0);
    try {
      switch (page) {
        case undefined:
        case 'dashboard': await dashboardScreen(seq); break;
        case 'devices': await (id ? deviceScreen(seq, id) : devicesScreen(seq)); break;
        case 'profiles': await (id ? profileScreen(seq, id) : profilesScreen(seq)); break;
        case 'log': await logScreen(seq); break;
        case 'requests': await requestsScreen(seq); break;
        case 'settings': await settingsScreen(seq); break;
        default: location.replace('#/dashboard');
      }
    } catch (e) {
      if (e.status !== 401) fatal(seq, e);
    }
  }

  // loadZone reads the household's time zone, which every time shown
  // uses; once, and again after Settings change it.
  async function loadZone() {
    if (state.tz) return;
    try {
      const s = await api('GET', '/api/v1/settings');
      state.tz = (s && s.time_zone) || 'UTC';
    } catch (e) {
      // The screen reports errors; times show in UTC meanwhile.
    }
  }

  // refreshBanner shows what needs a parent's attention (GET
  // /api/v1/set-aside): store items the running policy sets aside because
  // they fail validation.
  async function refreshBanner() {
    const el = document.getElementById('banner');
    let s;
    try {
      s = await api('GET', '/api/v1/set-aside');
    } catch (e) {
      return; // the screen itself reports errors
    }
    const items = (s && s.set_aside) || [];
    if (items.length === 0) {
      el.replaceChildren();
      el.classList.add('hidden');
      return;
    }
    el.replaceChildren(
      h('strong', { text: (items.length === 1 ? t('1 saved item is not in use because it is invalid.') : t('{n} saved items are not in use because they are invalid.', { n: items.length })) + ' ' }),
      h('span', { text: t('Those devices get the default profile until you fix or delete them:') }),
      h('ul', {}, ...items.map((item) => h('li', { text: item }))));
    el.classList.remove('hidden');
  }

  // --------------------------------------------------------------- wizard

  function wizardStep1() {
    const seq = ++state.seq;
    showNav(false);
    const code = ctl('input', 'wizard-code', { type: 'text', autocomplete: 'one-time-code', autocapitalize: 'characters', spellcheck: false, 'data-field': 'code', placeholder: 'XXXX-XXXX-XXXX', maxLength: 32 });
    const pw = ctl('input', 'wizard-password', { type: 'password', autocomplete: 'new-password', 'data-field': 'password' });
    const pw2 = ctl('input', 'wizard-password2', { type: 'password', autocomplete: 'new-password', 'data-field': 'password2' });
    const err = errorBox('wizard-error');
    const next = h('button', { type: 'submit', class: 'primary', testid: 'wizard-next', text: t('Next') });
    const form = h('form', { novalidate: true },
      field(t('Setup code'), code, t('Hearth printed it in its log when it started. You can also run “hearth admin setup-code” on the machine Hearth runs on.')),
      // For password managers: the account the new password belongs to.
      h('input', { type: 'text', autocomplete: 'username', value: 'admin', hidden: true, tabIndex: -1, 'aria-hidden': 'true' }),
      field(t('Choose a password'), pw, t('At least 10 characters, not a common one. A few unrelated words work well. Your user name is “admin”.')),
      field(t('Type it again'), pw2),
      err,
      h('div', { class: 'row end' }, next));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(next, async () => {
        clearError(err, form);
        try {
          if (!code.value.trim()) throw formError('code', t('Type the setup code from Hearth’s log.'));
          if (!pw.value.trim()) throw formError('password', t('Choose a password.'));
          if ([...pw.value].length < 10) throw formError('password', t('The password needs at least 10 characters.'));
          if (pw.value !== pw2.value) throw formError('password2', t('The two passwords are not the same.'));
          const s = await api('POST', '/api/v1/setup', { code: code.value.trim(), user: 'admin', password: pw.value }, { auth: false });
          state.csrf = s.csrf;
          state.user = s.user;
          await wizardStep2();
        } catch (e) {
          if (e.status === 409) {
            showLogin(t('Hearth is already set up. Please log in.'));
            return;
          }
          if (e.status === 429) e = new APIError(429, e.retryAfter ? t('Too many wrong codes. Please wait {n} seconds and try again.', { n: e.retryAfter }) : t('Too many wrong codes. Please wait a little and try again.'), 'code');
          showError(err, e, form);
        }
      });
    });
    mount(seq, 'screen-wizard-1', h('div', { class: 'card narrow' },
      h('h1', { text: t('Welcome to Hearth') }),
      h('p', { text: t('Hearth keeps your family’s internet calm and safe. Two quick steps and you are done.') }),
      h('h2', { text: t('Step 1 of 2: your password') }),
      form));
    code.focus();
  }

  // configWins says that the config file sets the profile for new
  // devices, where, and that it wins over this screen.
  function configWins(profile, at) {
    return h('p', { class: 'note', text: t('The config file sets the profile for new devices to {profile} (default_profile, {at}). The config file wins over this screen: change it there.', { profile: titleCase(profile), at }) });
  }

  async function wizardStep2() {
    const seq = ++state.seq;
    showNav(false);
    const [cat, settings] = await Promise.all([catalog(), api('GET', '/api/v1/settings')]);
    if (seq !== state.seq) return;
    const zone = zonePicker('wizard', detectedZone());
    // The config file's default_profile wins: show it, do not override it.
    const fixed = settings && settings.config_default_profile;
    const presets = cat.presets.map((p) => [p.id, titleCase(p.id)]);
    if (fixed && !presets.some(([id]) => id === fixed)) presets.push([fixed, titleCase(fixed)]);
    const initial = fixed || (cat.presets.some((p) => p.id === 'kid') ? 'kid' : (presets[0] || [''])[0]);
    const profile = fill(ctl('select', 'wizard-default-profile', { 'data-field': 'default_profile', disabled: !!fixed }), presets, initial);
    const desc = h('p', { class: 'hint', testid: 'wizard-preset-description' });
    const describe = () => {
      const p = presetOf(cat, profile.value);
      desc.textContent = p ? p.description || '' : '';
    };
    profile.addEventListener('change', describe);
    describe();
    const err = errorBox('wizard-error');
    const finish = h('button', { type: 'submit', class: 'primary', testid: 'wizard-finish', text: t('Finish') });
    const form = h('form', { novalidate: true },
      zone.nodes,
      field(t('Profile for new devices'), profile),
      desc,
      fixed ? h('div', { testid: 'wizard-default-profile-note' }, configWins(fixed, settings.config_default_profile_at))
        : h('p', { class: 'hint', text: t('Every device Hearth has not met before gets this profile until you choose another one. Kid is the safest start.') }),
      err,
      h('div', { class: 'row end' }, finish));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(finish, async () => {
        clearError(err, form);
        try {
          await api('PUT', '/api/v1/settings', { time_zone: zone.value(), default_profile: fixed ? '' : profile.value });
          state.tz = '';
          // Never "All set" while lists are missing: the dashboard shows
          // which ones and why.
          const lists = await api('GET', '/api/v1/sources').catch(() => null);
          const empty = (lists && lists.empty_categories) || [];
          if (empty.length) toast(empty.length === 1 ? t('Set up, but 1 blocked category has no block list yet. See the dashboard.') : t('Set up, but {n} blocked categories have no block list yet. See the dashboard.', { n: empty.length }));
          else if (lists && lists.progress && lists.progress.running) toast(t('Set up. Block lists are still downloading; the dashboard shows how far.'));
          else toast(t('All set! Hearth is looking after your home.'));
          go('#/dashboard');
        } catch (e) {
          if (e.status !== 401) showError(err, e, form);
        }
      });
    });
    // The lists download while the parent fills this in: show how far
    // they got and what is missing, refreshed until the step is left.
    const lists = h('div', { testid: 'wizard-lists', class: 'hint', text: t('Checking the block lists…') });
    const drawLists = async () => {
      if (seq !== state.seq) return;
      const r = await api('GET', '/api/v1/sources').catch(() => null);
      if (seq !== state.seq || !r) return;
      const p = r.progress || {};
      const sources = r.sources || [];
      const ready = sources.filter((s) => s.state === 'fresh' || s.state === 'local').length;
      lists.replaceChildren(
        h('p', { text: p.running ? downloading(p) : t('{ready} of {total} block lists ready.', { ready, total: sources.length }) }),
        listsCard(r, cat) || '');
      setTimeout(drawLists, 3000);
    };
    drawLists();
    mount(seq, 'screen-wizard-2', h('div', { class: 'card narrow' },
      h('h1', { text: t('Welcome to Hearth') }),
      h('h2', { text: t('Step 2 of 2: your home') }),
      form, lists));
  }

  // downloading says how far the block lists' downloads are.
  function downloading(p) {
    return p.failed
      ? t('Downloading block lists: {done} of {total} done, {failed} failed.', { done: p.done, total: p.total, failed: p.failed })
      : t('Downloading block lists: {done} of {total} done.', { done: p.done, total: p.total });
  }

  // ---------------------------------------------------------------- login

  function showLogin(message) {
    const seq = ++state.seq;
    showNav(false);
    const user = ctl('input', 'login-user', { type: 'text', value: 'admin', autocomplete: 'username', autocapitalize: 'none', 'data-field': 'user' });
    const pw = ctl('input', 'login-password', { type: 'password', autocomplete: 'current-password', 'data-field': 'password' });
    const err = errorBox('login-error');
    if (message) err.textContent = message;
    const submit = h('button', { type: 'submit', class: 'primary', testid: 'login-submit', text: t('Log in') });
    const form = h('form', { novalidate: true }, field(t('User name'), user), field(t('Password'), pw), err,
      h('div', { class: 'row end' }, submit));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, async () => {
        clearError(err, form);
        try {
          const s = await api('POST', '/api/v1/login', { user: user.value.trim(), password: pw.value }, { auth: false });
          state.csrf = s.csrf;
          state.user = s.user;
          pw.value = '';
          await afterLogin();
        } catch (e) {
          if (e.status === 401) showError(err, new APIError(401, t('Wrong user name or password.')), form);
          else if (e.status === 429) showError(err, new APIError(429, e.retryAfter ? t('Too many attempts. Please wait {n} seconds and try again.', { n: e.retryAfter }) : t('Too many attempts. Please wait a little and try again.')), form);
          else showError(err, e, form);
        }
      });
    });
    mount(seq, 'screen-login', h('div', { class: 'card narrow' }, h('h1', { text: t('Log in to Hearth') }), form));
    pw.focus();
  }

  async function afterLogin() {
    const s = await api('GET', '/api/v1/settings');
    if (!s || !s.configured) {
      await wizardStep2();
      return;
    }
    if (!location.hash || location.hash === '#' || location.hash === '#/') location.replace('#/dashboard');
    route();
  }

  // ------------------------------------------------------------ dashboard

  function barRow(testid, label, value, parts) {
    const bar = h('div', { class: 'bar', 'aria-hidden': 'true' });
    for (const [fraction, cls] of parts) {
      const span = h('span', { class: cls || '' });
      span.style.width = (Math.max(0, Math.min(1, fraction)) * 100).toFixed(1) + '%';
      bar.append(span);
    }
    return h('li', { testid },
      h('div', { class: 'label' }, h('span', { text: label }), h('span', { class: 'muted', text: value })),
      bar);
  }

  // hourlyChart draws today's queries hour by hour from the start of the
  // stats range, the blocked part of each bar in the warning colour.
  function hourlyChart(stats) {
    const start = Date.parse(stats.since);
    const slots = Array.from({ length: 24 }, () => ({ q: 0, b: 0 }));
    for (const c of stats.hourly || []) {
      const i = Math.floor((Date.parse(c.hour) - start) / 3600000);
      if (i >= 0 && i < 24) {
        slots[i].q += c.queries || 0;
        slots[i].b += c.blocked || 0;
      }
    }
    const top = Math.max(1, ...slots.map((x) => x.q));
    const chart = h('div', { class: 'hours', testid: 'dash-hourly', role: 'img', 'aria-label': t('Queries per hour today, blocked ones highlighted') });
    slots.forEach((x, i) => {
      const col = h('div', { class: 'hour', title: t('{time}: {queries} looked up, {blocked} blocked', { time: clock(new Date(start + i * 3600000)), queries: count(x.q), blocked: count(x.b) }) });
      const allowed = h('span', {});
      const blocked = h('span', { class: 'blocked' });
      allowed.style.height = ((100 * (x.q - x.b)) / top).toFixed(1) + '%';
      blocked.style.height = ((100 * x.b) / top).toFixed(1) + '%';
      col.append(blocked, allowed);
      chart.append(col);
    });
    return chart;
  }

  // listsCard warns about block lists that are downloading, failed or
  // stale, and blocked categories without any data; null when all is well.
  function listsCard(r, cat) {
    if (!r) return null;
    const p = r.progress || {};
    const empty = r.empty_categories || [];
    const problems = (r.sources || []).filter((s) => s.state === 'failed' || s.state === 'stale');
    if (!p.running && !empty.length && !problems.length) return null;
    return h('div', { class: 'card', testid: 'dash-lists' },
      h('h2', { text: t('Block lists') }),
      p.running ? h('p', { testid: 'lists-progress', text: downloading(p) }) : null,
      emptyNotes(empty, cat),
      problems.length ? h('ul', { class: 'list' }, problems.map((s) => h('li', { class: 'item', testid: `lists-problem-${s.id}` },
        h('div', {}, h('div', { class: 'title', text: `${tagName(cat, s.tag)}: ${s.id}` }), h('div', { class: 'sub', text: sourceStatus(s) }))))) : null);
  }

  // emptyNotes warns about blocked categories without data, one note per
  // reason and profiles, each category named in a lists-empty-{tag} span.
  function emptyNotes(empty, cat) {
    const groups = new Map();
    for (const c of empty) {
      const key = `${c.profiles.join(', ')}\n${c.reason}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(c);
    }
    return [...groups.entries()].map(([key, cs]) => {
      const [profiles, reason] = key.split('\n');
      const names = [];
      cs.forEach((c, i) => {
        if (i > 0) names.push(i === cs.length - 1 ? ' ' + t('and') + ' ' : ', ');
        names.push(h('strong', { testid: `lists-empty-${c.id}`, text: c.name || tagName(cat, c.id) }));
      });
      // The sentence is cut where the names go, so that each stays an
      // element of its own.
      const [before, after] = t('Nothing in {names} is blocked yet (profile {profiles}): {reason}.', { profiles, reason }).split('{names}');
      return h('p', { class: 'note', testid: 'lists-empty' }, before, names, after);
    });
  }

  // sourceStatus describes one list's state in words.
  function sourceStatus(s) {
    const retry = s.next_attempt ? ' ' + t('Next try {time}.', { time: when(s.next_attempt) }) : '';
    const lastError = s.error ? ' ' + t('Last error: {error}.', { error: s.error }) : '';
    switch (s.state) {
      case 'failed': return t('Failed, nothing blocked from it: {error}.', { error: s.error || t('unknown error') }) + retry;
      case 'stale': return t('Out of date since {time}; the last good copy ({n} sites) still blocks.', { time: when(s.stale_since), n: count(s.names) }) + lastError + retry;
      case 'pending': return t('Downloading…');
      case 'fresh': return t('{n} sites, up to date ({time})', { n: count(s.names), time: when(s.fetched_at) });
      default: return s.error ? t('problem: {error}', { error: s.error }) : s.loaded ? t('{n} sites', { n: count(s.names) }) : t('not loaded');
    }
  }

  async function dashboardScreen(seq) {
    const [stats, devs, cat, guesses, lists] = await Promise.all([api('GET', '/api/v1/stats'), api('GET', '/api/v1/devices'), catalog(),
      api('GET', '/api/v1/unknown-client-ids').catch(() => null), api('GET', '/api/v1/sources').catch(() => null)]);
    const devices = (devs && devs.devices) || [];
    const names = new Map(devices.map((d) => [d.id, deviceName(d)]));
    // Sources slowed down for trying encrypted-DNS ids that no device has.
    const guessers = ((guesses && guesses.sources) || []).filter((s) => s.refused > 0);
    const weak = devices.filter((d) => d.weak_client_ids).length;
    const guessNote = guessers.length ? h('div', { class: 'card' }, h('p', { class: 'note', testid: 'dash-id-guesses' },
      guessers.map((s) => t('{source} tried {n} encrypted-DNS ids that no device has (last {time}); Hearth is slowing it down.', { source: s.source, n: count(s.tries), time: when(s.last) }) + ' ').join(''),
      weak === 1 ? t('Someone may be guessing a device’s id: 1 device has a chosen id that can be guessed; open it and replace it with a secret id.')
        : weak ? t('Someone may be guessing a device’s id: {n} devices have chosen ids that can be guessed; open them and replace them with secret ids.', { n: weak })
          : t('Secret ids cannot be guessed this way, but a device set up with an old id would also show here.'))) : null;
    const err = errorBox('dashboard-error');
    const queries = stats.queries || 0;
    const blocked = stats.blocked || 0;
    const pct = queries ? Math.round((100 * blocked) / queries) : 0;

    const totals = h('div', { class: 'card' },
      h('h2', { text: t('Today') }),
      h('div', { class: 'stats' },
        h('div', { class: 'stat' }, h('div', { class: 'num', testid: 'dash-queries', text: count(queries) }), h('div', { class: 'muted', text: t('sites looked up') })),
        h('div', { class: 'stat' }, h('div', { class: 'num', testid: 'dash-blocked', text: count(blocked) }), h('div', { class: 'muted', text: t('blocked ({pct}%)', { pct }) }))),
      hourlyChart(stats),
      stats.dropped_log_rows > 0 ? h('p', {
        class: 'note', testid: 'dash-dropped',
        text: t('{n} activity entries could not be recorded because Hearth was very busy, so these numbers may be a little low.', { n: count(stats.dropped_log_rows) }),
      }) : null);

    // Pause card.
    const paused = devices.map((d) => pausedUntil(d)).filter(Boolean).sort((a, b) => Date.parse(a) - Date.parse(b));
    const status = paused.length
      ? t('{paused} of {total} devices paused, until {time} at the latest.', { paused: paused.length, total: devices.length, time: when(paused[paused.length - 1]) })
      : t('Nothing is paused right now.');
    const buttons = pauses().map((p) => {
      const b = h('button', { type: 'button', class: 'primary', testid: `pause-all-${p.key}`, text: p.label });
      b.addEventListener('click', () => busy(b, async () => {
        clearError(err);
        try {
          const r = await api('POST', '/api/v1/pause', p.body);
          const gs = (r && r.grants) || [];
          toast(gs.length ? t('All devices paused until {time}', { time: when(gs[0].until) }) : t('There are no devices to pause yet.'));
          route();
        } catch (e) {
          if (e.status !== 401) showError(err, e);
        }
      }));
      return b;
    });
    const resume = h('button', { type: 'button', testid: 'resume-all', text: t('Resume all') });
    resume.addEventListener('click', () => busy(resume, async () => {
      clearError(err);
      try {
        await api('DELETE', '/api/v1/pause');
        toast(t('All devices are back on.'));
        route();
      } catch (e) {
        if (e.status !== 401) showError(err, e);
      }
    }));
    const pauseCard = h('div', { class: 'card' },
      h('h2', { text: t('Pause all devices') }),
      h('p', { class: 'muted', text: t('Dinner, homework, bedtime: pausing stops the internet on every device you manage here. Sites on a profile’s allow list keep working.') }),
      h('p', { testid: 'pause-status', text: status }),
      h('div', { class: 'row' }, buttons, resume),
      err);

    // What is in force per device now: schedules and grants, worded by
    // the server in the household's time zone.
    const busyNow = devices.filter((d) => (d.now || []).length);
    const nowCard = h('div', { class: 'card', testid: 'dash-now' }, h('h2', { text: t('Right now') }),
      busyNow.length
        ? h('ul', { class: 'list' }, busyNow.map((d) => h('li', { class: 'item' },
          h('a', { href: `#/devices/${enc(d.id)}`, text: deviceName(d) }),
          h('span', { testid: `dash-now-${d.id}`, text: d.now.map((x) => x.text).join(' · ') }))))
        : h('p', { class: 'muted', text: t('No schedule, pause or allowance is in force.') }));

    // Time budgets per device: minutes used and left today, counted by
    // the server from DNS activity, with extra time for today.
    const budgeted = devices.filter((d) => (d.budgets || []).length);
    const budgetCard = budgeted.length ? h('div', { class: 'card', testid: 'dash-budgets' }, h('h2', { text: t('Time budgets today') }),
      h('p', { class: 'muted', text: t('Active minutes: minutes in which a device used the service. They reset at midnight.') }),
      budgeted.map((d) => h('div', { class: 'budget-device' },
        h('h3', {}, h('a', { href: `#/devices/${enc(d.id)}`, text: deviceName(d) })),
        h('ul', { class: 'bars' }, d.budgets.map((b) => {
          const row = barRow(`dash-budget-${d.id}-${b.budget}`, tagName(cat, b.budget),
            b.spent ? t('time budget used') : t('{n} min left', { n: b.left }),
            [[b.limit ? b.used / b.limit : 1, b.spent ? 'blocked' : '']]);
          row.append(h('p', { class: 'muted', testid: `dash-budget-text-${d.id}-${b.budget}`, text: b.text }));
          const extra = h('div', { class: 'row' }, [15, 30, 60].map((m) => {
            const btn = h('button', { type: 'button', testid: `extra-${d.id}-${b.budget}-${m}`, text: '+' + t('{n} min', { n: m }), 'aria-label': t('{n} more minutes of {what} for {device} today', { n: m, what: tagName(cat, b.budget), device: deviceName(d) }) });
            btn.addEventListener('click', () => busy(btn, async () => {
              clearError(err);
              try {
                await api('POST', '/api/v1/grants', { device: d.id, kind: 'extra-time', target: b.budget, minutes: m });
                toast(t('{n} more minutes of {what} for {device} today', { n: m, what: tagName(cat, b.budget), device: deviceName(d) }));
                route();
              } catch (e) {
                if (e.status !== 401) showError(err, e);
              }
            }));
            return btn;
          }));
          row.append(extra);
          return row;
        }))))) : null;

    // Top blocked categories.
    const top = (stats.top_blocked || []).slice(0, 8);
    const topMax = Math.max(1, ...top.map((x) => x.blocked || 0));
    const topCard = h('div', { class: 'card' }, h('h2', { text: t('Most blocked today') }),
      top.length
        ? h('ul', { class: 'bars' }, top.map((x) => barRow(`dash-top-${x.tag || 'other'}`, x.tag ? tagName(cat, x.tag) : t('Other'), count(x.blocked), [[(x.blocked || 0) / topMax, 'blocked']])))
        : h('p', { class: 'muted', testid: 'dash-empty-top', text: t('Nothing blocked yet today.') }));

    // Per device.
    const per = (stats.devices || []).slice().sort((a, b) => (b.queries || 0) - (a.queries || 0));
    const devMax = Math.max(1, ...per.map((d) => d.queries || 0));
    const devCard = h('div', { class: 'card' }, h('h2', { text: t('By device') }),
      per.length
        ? h('ul', { class: 'bars' }, per.map((d) => {
          const q = d.queries || 0;
          const b = d.blocked || 0;
          const label = d.device ? names.get(d.device) || d.device : t('Unknown devices');
          return barRow(`dash-device-${d.device || 'unknown'}`, label, t('{queries} · {blocked} blocked', { queries: count(q), blocked: count(b) }),
            [[(q - b) / devMax, ''], [b / devMax, 'blocked']]);
        }))
        : h('p', { class: 'muted', text: t('No activity yet today.') }));

    mount(seq, 'screen-dashboard', h('h1', { text: t('Your home today') }), listsCard(lists, cat), guessNote, totals, nowCard, budgetCard, pauseCard, h('div', { class: 'grid' }, topCard, devCard));
  }

  // ------------------------------------------------------------- requests

  // CHOICES are the answers to a child's request, as the API names them.
  function choices() {
    return [['15m', t('15 min')], ['1h', t('1 hour')], ['today', t('Today')], ['always', t('Always')], ['deny', t('Deny')]];
  }

  // requestStatus words a request's answer.
  function requestStatus(r) {
    if (r.status === 'approved') return r.until ? t('Allowed until {time}', { time: when(r.until) }) : t('Always allowed');
    if (r.status === 'denied') return t('Denied');
    return t('Waiting');
  }

  // requestsScreen lists the children's requests (answer the waiting
  // ones), the week's digest and how notifications are going.
  async function requestsScreen(seq) {
    const [reqs, digest, notes] = await Promise.all([api('GET', '/api/v1/requests'),
      api('GET', '/api/v1/digest').catch(() => null), api('GET', '/api/v1/notifications').catch(() => null)]);
    const list = (reqs && reqs.requests) || [];
    const waiting = list.filter((r) => r.status === 'pending');
    const answered = list.filter((r) => r.status !== 'pending');
    const err = errorBox('requests-error');
    const item = (r) => {
      const asks = r.tag_name
        ? t('{device} asks for {site} ({what})', { device: r.device_name || r.device, site: r.host, what: r.tag_name })
        : t('{device} asks for {site}', { device: r.device_name || r.device, site: r.host });
      const li = h('li', { class: 'item', testid: `request-${r.id}` },
        h('div', {},
          h('strong', { text: asks }),
          h('span', { class: 'muted', text: ' · ' + when(r.created) }),
          r.message ? h('p', { class: 'note', testid: `request-${r.id}-message`, text: `“${r.message}”` }) : null));
      if (r.status !== 'pending') {
        li.append(h('span', { class: r.status === 'denied' ? 'bad' : 'ok', testid: `request-${r.id}-status`, text: requestStatus(r) }));
        return li;
      }
      const row = h('div', { class: 'row' });
      for (const [choice, label] of choices()) {
        const b = h('button', { type: 'button', class: choice === 'deny' ? '' : 'primary', testid: `request-${r.id}-${choice}`, text: label });
        b.addEventListener('click', () => busy(b, async () => {
          clearError(err);
          try {
            const done = await api('POST', `/api/v1/requests/${enc(r.id)}`, { choice });
            toast(r.host + ': ' + requestStatus(done));
            route();
          } catch (e) {
            if (e.status !== 401) showError(err, e);
          }
        }));
        row.append(b);
      }
      li.append(row);
      return li;
    };
    const off = reqs && reqs.enabled === false;
    const waitCard = h('div', { class: 'card', testid: 'requests-waiting' }, h('h2', { text: t('Waiting for you') }),
      off ? h('p', { class: 'muted', text: t('Ask a parent is off (ask_parent.enabled in the config file).') }) : null,
      waiting.length ? h('ul', { class: 'list' }, waiting.map(item))
        : h('p', { class: 'muted', text: t('No requests. A child can ask from the block page, or at this address’s /ask page.') }),
      err);
    const doneCard = answered.length ? h('div', { class: 'card' }, h('h2', { text: t('Answered') }), h('ul', { class: 'list' }, answered.map(item))) : null;

    let digestCard = null;
    if (digest) {
      const devs = digest.devices || [];
      const counts = (xs, key) => xs.map((x) => x.name + ' ' + count(x[key])).join(', ');
      const line = (d) => [
        d.services.length ? t('Used: {list}', { list: d.services.map((x) => x.name + ' ' + t('{n} min', { n: x.minutes || 0 })).join(', ') }) : '',
        d.top_blocked.length ? t('Blocked most: {list}', { list: counts(d.top_blocked, 'blocked') }) : '',
        d.bypass_attempts ? t('Bypass attempts: {n}', { n: d.bypass_attempts }) : ''].filter(Boolean).join(' · ') || t('Nothing counted.');
      digestCard = h('div', { class: 'card', testid: 'digest' }, h('h2', { text: t('This week') }),
        h('p', { class: 'muted', text: t('Counted from DNS: the minutes in which a device asked for a service, not screen time.') }),
        devs.length ? h('ul', { class: 'list' }, devs.map((d) => h('li', { class: 'item', testid: `digest-${d.device}` },
          h('strong', { text: d.name || d.device }), h('span', { text: line(d) }))))
          : h('p', { class: 'muted', text: t('Nothing counted yet this week.') }),
        (digest.new_devices || []).length ? h('p', { text: t('New devices: {list}', { list: digest.new_devices.map((n) => n.name || n.device).join(', ') }) }) : null);
    }
    const chans = (notes && notes.channels) || [];
    const notesCard = h('div', { class: 'card', testid: 'notify-status' }, h('h2', { text: t('Notifications') }),
      chans.length ? h('ul', { class: 'list' }, chans.map((c) => h('li', { class: 'item', testid: `notify-${c.channel}` },
        h('strong', { text: c.channel }),
        h('span', { text: t('{sent} sent · {failed} failed · {dropped} dropped', { sent: count(c.sent), failed: count(c.failed), dropped: count(c.dropped) }) }),
        c.last_error ? h('p', { class: 'bad', text: t('Last error {time}: {error}', { time: when(c.last_error_at), error: c.last_error }) }) : null)))
        : h('p', { class: 'muted', text: t('No notification channel is configured (notify in the config file).') }));
    mount(seq, 'screen-requests', h('h1', { text: t('Requests') }), waitCard, doneCard, digestCard, notesCard);
  }

  // -------------------------------------------------------------- devices

  // deviceBody is what a PUT sends: the device without its read-only fields.
  function deviceBody(d, changes) {
    const body = Object.assign({}, d, changes);
    delete body.provisioned;
    delete body.effective_profile;
    delete body.grants;
    delete body.weak_client_ids;
    delete body.dns_id;
    delete body.budgets;
    return body;
  }

  async function devicesScreen(seq) {
    const [devs, profs, cat, settings] = await Promise.all([
      api('GET', '/api/v1/devices'), api('GET', '/api/v1/profiles'), catalog(), api('GET', '/api/v1/settings'),
    ]);
    const devices = (devs && devs.devices) || [];
    const profiles = (profs && profs.profiles) || [];
    const homeDefault = settings && settings.default_profile ? profileTitle(settings.default_profile, profiles) : t('none set');
    const defaultLabel = t('Home default ({profile})', { profile: homeDefault });
    const choices = [['', defaultLabel], ...profileChoices(profiles, cat)];

    // New devices to claim.
    const fresh = devices.filter((d) => d.new && !d.provisioned);
    const newCard = fresh.length ? h('div', { class: 'card', testid: 'new-devices' },
      h('h2', { text: t('New devices ({n})', { n: fresh.length }) }),
      h('p', { class: 'muted', text: t('Hearth noticed these devices. Give each a name you recognise and choose its profile.') }),
      fresh.map((d) => {
        const name = ctl('input', `new-device-name-${d.id}`, { type: 'text', value: d.name || d.hostname || '', 'data-field': 'name', maxLength: 64 });
        const prof = fill(ctl('select', `new-device-profile-${d.id}`, { 'data-field': 'profile' }), choices, d.profile || '');
        const err = errorBox(`new-device-error-${d.id}`);
        const claim = h('button', { type: 'submit', class: 'primary', testid: `new-device-claim-${d.id}`, text: t('Add to my devices') });
        const seen = [d.hostname, ...(d.ips || []), ...(d.macs || [])].filter(Boolean).join(' · ');
        const form = h('form', { class: 'sched', novalidate: true, testid: `new-device-${d.id}` },
          h('p', { class: 'small muted', text: (seen || d.id) + (d.first_seen ? ' · ' + t('first seen {time}', { time: when(d.first_seen) }) : '') }),
          h('div', { class: 'grid' }, field(t('Name'), name), field(t('Profile'), prof)),
          err, h('div', { class: 'row end' }, claim));
        form.addEventListener('submit', (ev) => {
          ev.preventDefault();
          busy(claim, async () => {
            clearError(err, form);
            try {
              if (!name.value.trim()) throw formError('name', t('Please give the device a name.'));
              const saved = await api('PUT', `/api/v1/devices/${enc(d.id)}`, deviceBody(d, { name: name.value.trim(), profile: prof.value, new: false }));
              toast(t('{device} added, with profile {profile}.', { device: deviceName(saved), profile: saved.profile ? profileTitle(saved.profile, profiles) : defaultLabel }));
              route();
            } catch (e) {
              if (e.status === 409) {
                toast(t('This device was changed somewhere else; here is the latest.'), true);
                route();
              } else if (e.status !== 401) showError(err, e, form);
            }
          });
        });
        return form;
      })) : null;

    // All devices.
    const list = h('ul', { class: 'list', testid: 'device-list' }, devices.map((d) => {
      const until = pausedUntil(d);
      const allows = activeGrants(d).filter((g) => g.kind === 'allow').length;
      return h('li', {}, h('a', { class: 'item', href: `#/devices/${enc(d.id)}`, testid: `device-row-${d.id}` },
        h('div', {},
          h('div', { class: 'title' }, deviceName(d),
            d.new ? h('span', { class: 'badge new', text: t('new') }) : null,
            until ? h('span', { class: 'badge paused', text: t('paused until {time}', { time: when(until) }) }) : null,
            allows ? h('span', { class: 'badge allowed', text: t('{n} allowed for now', { n: allows }) }) : null,
            d.provisioned ? h('span', { class: 'badge ro', text: t('config file') }) : null,
            d.weak_client_ids ? h('span', { class: 'badge weak', testid: `device-weak-${d.id}`, text: t('weak DNS id') }) : null),
          h('div', { class: 'sub', text: d.profile ? profileTitle(d.profile, profiles) : defaultLabel })),
        h('span', { class: 'muted', 'aria-hidden': 'true', text: '›' })));
    }));

    // Add a device by hand.
    const addName = ctl('input', 'device-add-name', { type: 'text', 'data-field': 'name', maxLength: 64, placeholder: t('Emma’s tablet') });
    const addIP = ctl('input', 'device-add-ip', { type: 'text', 'data-field': 'ips', placeholder: '192.168.1.40', inputMode: 'decimal', autocomplete: 'off' });
    const addMAC = ctl('input', 'device-add-mac', { type: 'text', 'data-field': 'macs', placeholder: 'aa:bb:cc:dd:ee:ff', autocomplete: 'off' });
    const addProf = fill(ctl('select', 'device-add-profile', { 'data-field': 'profile' }), choices, '');
    const addErr = errorBox('device-add-error');
    const addBtn = h('button', { type: 'submit', class: 'primary', testid: 'device-add-submit', text: t('Add device') });
    const addForm = h('form', { novalidate: true },
      h('div', { class: 'grid' }, field(t('Name'), addName), field(t('Profile'), addProf), field(t('IP address'), addIP), field(t('MAC address (optional)'), addMAC)),
      addErr, h('div', { class: 'row end' }, addBtn));
    addForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(addBtn, async () => {
        clearError(addErr, addForm);
        try {
          if (!addName.value.trim()) throw formError('name', t('Please give the device a name.'));
          if (!addIP.value.trim() && !addMAC.value.trim()) throw formError('ips', t('Give its IP address or its MAC address, so Hearth can recognise it.'));
          const body = { name: addName.value.trim(), profile: addProf.value };
          if (addIP.value.trim()) body.ips = [addIP.value.trim()];
          if (addMAC.value.trim()) body.macs = [addMAC.value.trim().toLowerCase()];
          const d = await api('POST', '/api/v1/devices', body);
          toast(t('{device} added.', { device: deviceName(d) }));
          go(`#/devices/${enc(d.id)}`);
        } catch (e) {
          if (e.status !== 401) showError(addErr, e, addForm);
        }
      });
    });

    mount(seq, 'screen-devices',
      h('h1', { text: t('Devices') }),
      newCard,
      h('div', { class: 'card' }, h('h2', { text: t('All devices') }),
        devices.length ? list : h('p', { class: 'muted', text: t('No devices yet. They appear here as soon as they use the internet through Hearth.') })),
      h('details', { class: 'card' }, h('summary', { text: t('Add a device by hand') }), addForm));
  }

  async function deviceScreen(seq, id) {
    const [d, profs, cat, settings] = await Promise.all([
      api('GET', `/api/v1/devices/${enc(id)}`), api('GET', '/api/v1/profiles'), catalog(), api('GET', '/api/v1/settings'),
    ]);
    renderDevice(seq, d, (profs && profs.profiles) || [], cat, settings || {});
  }

  // dnsIDCard is the device's encrypted-DNS id: how it is set up now, the
  // one-click rotation, and, right after one, the id and its setup (shown
  // this once: Hearth keeps only a hash).
  function dnsIDCard(seq, d, profiles, cat, settings, setup) {
    const ro = !!d.provisioned;
    const err = errorBox('device-dnsid-error');
    const kids = [h('h2', { text: t('Encrypted DNS (phones and browsers)') })];
    if (d.weak_client_ids) {
      kids.push(h('p', { class: 'note', testid: 'device-dnsid-weak', text:
        t('Weak: this device is recognised over encrypted DNS by the chosen id {ids}.', { ids: (d.client_ids || []).join(', ') }) + ' ' +
        t('Anyone on your network who types it gets this device’s profile.') + ' ' +
        (ro ? t('It is set in the config file; remove client_id there and add the device here to give it a secret id.') : t('Replace it with a secret id.')) }));
    } else if (d.dns_id) {
      kids.push(h('p', { class: 'muted', testid: 'device-dnsid-status', text:
        t('Secret id made {time}: {hint}… (the rest is not kept).', { time: when(d.dns_id.created), hint: (d.dns_id.label ? d.dns_id.label + '-' : '') + d.dns_id.hint }) }));
    } else {
      kids.push(h('p', { class: 'muted', testid: 'device-dnsid-status', text: t('Not set up. Give the device a secret id to use Hearth over DNS over TLS (Android Private DNS) or HTTPS (iPhone, iPad, Mac, browsers), also away from the home Wi-Fi.') }));
    }
    if (setup) {
      kids.push(dnsIDSetupPanel(d, setup));
    }
    if (!ro) {
      const label = d.dns_id ? t('Make a new id (the old one stops at once)') : (d.weak_client_ids ? t('Replace with a secret id') : t('Set up encrypted DNS'));
      const btn = h('button', { type: 'button', class: d.dns_id ? '' : 'primary', testid: 'device-dnsid-rotate', text: label });
      btn.addEventListener('click', () => {
        busy(btn, async () => {
          clearError(err);
          try {
            const s = await api('POST', `/api/v1/devices/${enc(d.id)}/dns-id`);
            toast(t('New secret id for {device}: it is shown only this once.', { device: deviceName(s.device) }));
            renderDevice(seq, s.device, profiles, cat, settings, s);
          } catch (e) {
            if (e.status !== 401) showError(err, e);
          }
        });
      });
      kids.push(err, h('div', { class: 'row end' }, btn));
    }
    return h('div', { class: 'card', testid: 'device-dnsid' }, kids);
  }

  // dnsIDSetupPanel shows a new id with what each kind of device needs.
  function dnsIDSetupPanel(d, s) {
    const row = (k, code) => h('li', { class: 'item stack' }, h('span', { class: 'muted', text: k }), code);
    const rows = [
      s.host ? row(t('Android: Settings › Network › Private DNS › host name'), h('code', { class: 'token', testid: 'dnsid-host', text: s.host })) : null,
      s.doh_url ? row(t('Browsers (Chrome, Firefox: secure DNS, custom) and Apple'), h('code', { class: 'token', testid: 'dnsid-doh-url', text: s.doh_url })) : null,
      row(t('The id'), h('code', { class: 'token', testid: 'dnsid-id', text: s.id })),
    ].filter(Boolean);
    let download = null;
    if (s.mobileconfig) {
      const bin = atob(s.mobileconfig);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const url = URL.createObjectURL(new Blob([bytes], { type: 'application/x-apple-aspen-config' }));
      download = h('a', { href: url, download: `hearth-${d.id}.mobileconfig`, class: 'button', testid: 'dnsid-mobileconfig', text: t('Download the Apple profile (.mobileconfig)') });
    }
    return h('div', { class: 'dnsid-setup', testid: 'dnsid-setup' },
      h('p', { class: 'note', text: t('Shown only this once: set the device up now, or write the id down. If it is lost, make a new one.') }),
      h('ul', { class: 'list' }, rows),
      h('figure', { class: 'qr' },
        h('img', { src: `data:image/png;base64,${s.qr_png}`, alt: t('QR code of {text}', { text: s.qr_text }), width: 192, height: 192, testid: 'dnsid-qr' }),
        h('figcaption', { class: 'small muted', text: t('Scan to copy: {text}', { text: s.qr_text }) })),
      download,
      download ? h('p', { class: 'small muted', text: t('On the iPhone or iPad: open the file, then Settings › Profile Downloaded › Install. On a Mac: System Settings › Privacy & Security › Profiles.') }) : null,
      (s.notes || []).map((n) => h('p', { class: 'note', text: n })));
  }

  function renderDevice(seq, d, profiles, cat, settings, setup) {
    const ro = !!d.provisioned;
    const homeDefault = settings.default_profile ? profileTitle(settings.default_profile, profiles) : t('none set');
    const choices = [['', t('Home default ({profile})', { profile: homeDefault })], ...profileChoices(profiles, cat)];
    const reload = async () => {
      const fresh = await api('GET', `/api/v1/devices/${enc(d.id)}`);
      renderDevice(seq, fresh, profiles, cat, settings);
    };

    const name = ctl('input', 'device-name', { type: 'text', value: d.name || '', 'data-field': 'name', maxLength: 64 });
    const prof = fill(ctl('select', 'device-profile-select', { 'data-field': 'profile' }), choices, d.profile || '');
    const err = errorBox('device-error');
    const save = h('button', { type: 'submit', class: 'primary', testid: 'device-save', text: t('Save') });
    const form = h('form', { novalidate: true },
      h('h2', { text: t('Name and profile') }),
      h('fieldset', { disabled: ro, class: 'plain' },
        field(t('Name'), name),
        field(t('Profile'), prof),
        h('p', { class: 'hint', testid: 'device-effective-profile', text: t('Right now it gets: {profile}', { profile: d.effective_profile ? profileTitle(d.effective_profile, profiles) : '—' }) }),
        err,
        ro ? null : h('div', { class: 'row end' }, save)));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (ro) return;
      busy(save, async () => {
        clearError(err, form);
        try {
          if (!name.value.trim()) throw formError('name', t('Please give the device a name.'));
          const saved = await api('PUT', `/api/v1/devices/${enc(d.id)}`, deviceBody(d, { name: name.value.trim(), profile: prof.value, new: false }));
          toast(saved.profile ? t('Saved. {device} now gets {profile}.', { device: deviceName(saved), profile: profileTitle(saved.profile, profiles) }) : t('Saved. {device} now gets the home default.', { device: deviceName(saved) }));
          renderDevice(seq, saved, profiles, cat, settings);
        } catch (e) {
          if (e.status === 409) {
            toast(t('This device was changed somewhere else, so the latest version is shown. Please make your change again.'), true);
            route();
          } else if (e.status !== 401) showError(err, e, form);
        }
      });
    });

    const ids = [
      [t('IP addresses'), (d.ips || []).join(', ')],
      [t('MAC addresses'), (d.macs || []).join(', ')],
      [t('Client ids (weak: chosen names)'), (d.client_ids || []).join(', ')],
      [t('Encrypted DNS'), d.dns_id ? t('secret id {hint}…', { hint: (d.dns_id.label ? d.dns_id.label + '-' : '') + d.dns_id.hint }) : ''],
      [t('Network name'), d.hostname || ''],
      [t('First seen'), d.first_seen && !d.first_seen.startsWith('0001') ? when(d.first_seen) : ''],
    ].filter(([, v]) => v);
    const idCard = h('div', { class: 'card' }, h('h2', { text: t('How Hearth recognises it') }),
      ids.length ? h('ul', { class: 'list' }, ids.map(([k, v]) => h('li', { class: 'item' }, h('span', { class: 'muted', text: k }), h('span', { class: 'token', text: v }))))
        : h('p', { class: 'muted', text: t('Nothing recorded.') }));

    // Grants are state, not config: config-file devices take them too.
    let grantCard = null;
    {
      const gErr = errorBox('device-grant-error');
      const grants = activeGrants(d);
      const pauseButtons = pauses().map((p) => {
        const b = h('button', { type: 'button', class: 'primary', testid: `device-pause-${p.key}`, text: p.label });
        b.addEventListener('click', () => busy(b, async () => {
          clearError(gErr);
          try {
            const g = await api('POST', '/api/v1/grants', Object.assign({ device: d.id, kind: 'pause' }, p.body));
            toast(t('{device} paused until {time}.', { device: deviceName(d), time: when(g.until) }));
            await reload();
          } catch (e) {
            if (e.status !== 401) showError(gErr, e);
          }
        }));
        return b;
      });
      const list = h('ul', { class: 'list', testid: 'device-grants' }, grants.map((g) => {
        const end = h('button', { type: 'button', testid: `grant-end-${g.id}`, text: t('End now') });
        end.addEventListener('click', () => busy(end, async () => {
          clearError(gErr);
          try {
            await api('DELETE', `/api/v1/grants/${enc(g.id)}`);
            toast(g.kind === 'pause' ? t('{device} is back on.', { device: deviceName(d) }) : t('{what} is no longer allowed.', { what: tagName(cat, g.target) }));
            await reload();
          } catch (e) {
            if (e.status !== 401) showError(gErr, e);
          }
        }));
        return h('li', { class: 'item', testid: `grant-row-${g.id}` }, h('span', { text: grantText(g, cat) }), end);
      }));
      const target = ctl('input', 'device-allow-target', { type: 'text', 'data-field': 'target', placeholder: t('a site (youtube.com) or a category (games)'), autocomplete: 'off' });
      const dur = fill(ctl('select', 'device-allow-duration', { 'data-field': 'minutes' }), ALLOW_DURATIONS.map((m) => [String(m), duration(m)]), '30');
      const allowBtn = h('button', { type: 'submit', testid: 'device-allow-submit', text: t('Allow') });
      const allowForm = h('form', { novalidate: true }, h('div', { class: 'grid' }, field(t('Allow for a while'), target), field(t('For'), dur)), h('div', { class: 'row end' }, allowBtn));
      allowForm.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(allowBtn, async () => {
          clearError(gErr, allowForm);
          try {
            let what = target.value.trim();
            if (!what) throw formError('target', t('Type a site or a category to allow.'));
            const lower = what.toLowerCase();
            for (const c of cat.categories) {
              if (c.name && c.name.toLowerCase() === lower) what = c.id;
              for (const s of c.services || []) if (s.name && s.name.toLowerCase() === lower) what = s.id;
            }
            const minutes = Number(dur.value) || 30;
            await api('POST', '/api/v1/grants', { device: d.id, kind: 'allow', target: what, minutes });
            toast(t('{what} allowed for {device} for {duration}', { what: tagName(cat, what), device: deviceName(d), duration: duration(minutes) }));
            await reload();
          } catch (e) {
            if (e.status !== 401) showError(gErr, e, allowForm);
          }
        });
      });
      grantCard = h('div', { class: 'card' },
        h('h2', { text: t('Pause or allow for a while') }),
        h('div', { class: 'row' }, pauseButtons),
        h('h3', { class: 'small muted', text: t('In force now') }),
        grants.length ? list : h('p', { class: 'muted', testid: 'device-grants', text: t('Nothing right now.') }),
        allowForm,
        gErr);
    }

    let del = null;
    if (!ro) {
      del = h('button', { type: 'button', class: 'danger', testid: 'device-delete', text: t('Forget this device') });
      del.addEventListener('click', () => {
        if (!window.confirm(t('Forget {device}? If it uses the internet again it shows up as a new device.', { device: deviceName(d) }))) return;
        busy(del, async () => {
          try {
            await api('DELETE', `/api/v1/devices/${enc(d.id)}`);
            toast(t('{device} forgotten.', { device: deviceName(d) }));
            go('#/devices');
          } catch (e) {
            if (e.status !== 401) showError(err, e);
          }
        });
      });
    }

    mount(seq, 'screen-device',
      h('a', { href: '#/devices', testid: 'device-back', text: '‹ ' + t('All devices') }),
      h('h1', {}, deviceName(d),
        d.new ? h('span', { class: 'badge new', text: t('new') }) : null,
        pausedUntil(d) ? h('span', { class: 'badge paused', text: t('paused until {time}', { time: when(pausedUntil(d)) }) }) : null),
      ro ? h('p', { class: 'note', testid: 'device-readonly-note', text: t('This device is set in the config file, so it can only be changed there.') }) : null,
      h('div', { class: 'card' }, form),
      grantCard,
      dnsIDCard(seq, d, profiles, cat, settings, setup),
      idCard,
      del ? h('div', { class: 'row end' }, del) : null);
  }

  // ------------------------------------------------------------- profiles

  async function profilesScreen(seq) {
    const [profs, devs, cat] = await Promise.all([api('GET', '/api/v1/profiles'), api('GET', '/api/v1/devices'), catalog()]);
    const profiles = (profs && profs.profiles) || [];
    const devices = (devs && devs.devices) || [];
    const uses = new Map();
    for (const d of devices) if (d.profile) uses.set(d.profile, (uses.get(d.profile) || 0) + 1);

    const row = (p) => {
      const kind = profileKind(p, cat);
      const n = uses.get(p.id) || 0;
      const preset = presetOf(cat, kind === 'preset' ? p.id : p.preset);
      const sub = [
        kind === 'preset' ? (preset && preset.description) || t('Ready-made') : p.preset ? t('Starts from {preset}', { preset: titleCase(p.preset) }) : t('Starts empty'),
        n === 1 ? t('1 device') : t('{n} devices', { n }),
      ].join(' · ');
      return h('li', {}, h('a', { class: 'item', href: `#/profiles/${enc(p.id)}`, testid: `profile-row-${p.id}` },
        h('div', {},
          h('div', { class: 'title' }, profileName(p),
            kind === 'preset' ? h('span', { class: 'badge ro', text: t('ready-made') }) : null,
            kind === 'config' ? h('span', { class: 'badge ro', text: t('config file') }) : null,
            (p.schedules || []).length ? h('span', { class: 'badge', text: p.schedules.length === 1 ? t('1 schedule') : t('{n} schedules', { n: p.schedules.length }) }) : null),
          h('div', { class: 'sub', text: sub })),
        h('span', { class: 'muted', 'aria-hidden': 'true', text: '›' })));
    };
    const mine = profiles.filter((p) => profileKind(p, cat) === 'custom');
    const others = profiles.filter((p) => profileKind(p, cat) !== 'custom');

    const name = ctl('input', 'profile-new-name', { type: 'text', 'data-field': 'name', maxLength: 64, placeholder: t('Emma (8)') });
    const preset = fill(ctl('select', 'profile-new-preset', { 'data-field': 'preset' }),
      [...cat.presets.map((p) => [p.id, `${titleCase(p.id)}: ${p.description || ''}`]), ['', t('Nothing blocked (start empty)')]],
      cat.presets.some((p) => p.id === 'kid') ? 'kid' : '');
    const err = errorBox('profile-new-error');
    const submit = h('button', { type: 'submit', class: 'primary', testid: 'profile-new-submit', text: t('Create profile') });
    const form = h('form', { novalidate: true }, h('div', { class: 'grid' }, field(t('Name'), name), field(t('Start from'), preset)), err,
      h('div', { class: 'row end' }, submit));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, async () => {
        clearError(err, form);
        try {
          if (!name.value.trim()) throw formError('name', t('Please give the profile a name.'));
          const p = await api('POST', '/api/v1/profiles', { name: name.value.trim(), preset: preset.value });
          toast(t('Profile “{name}” created.', { name: profileName(p) }));
          go(`#/profiles/${enc(p.id)}`);
        } catch (e) {
          if (e.status !== 401) showError(err, e, form);
        }
      });
    });

    mount(seq, 'screen-profiles',
      h('h1', { text: t('Profiles') }),
      h('p', { class: 'muted', text: t('A profile says what a device may reach and when. Give each child their own, starting from a ready-made preset.') }),
      h('div', { class: 'card' }, h('h2', { text: t('New profile') }), form),
      h('div', { class: 'card' },
        h('ul', { class: 'list', testid: 'profile-list' }, mine.map(row), others.map(row)),
        profiles.length ? null : h('p', { class: 'muted', text: t('No profiles yet.') })));
  }

  // parseDays reads a schedule's days: a list (["mon", "tue"]), or the
  // older one string ("mon,tue"); items are days, ranges ("mon-fri"),
  // "daily", "weekdays", "weekends".
  function parseDays(s) {
    const out = new Set();
    const idx = (tok) => DAYS.indexOf(tok.slice(0, 3));
    for (const tok of [].concat(s || []).join(',').toLowerCase().split(/[\s,]+/)) {
      if (!tok) continue;
      if (tok === 'daily' || tok === 'everyday') DAYS.forEach((d) => out.add(d));
      else if (tok === 'weekdays') DAYS.slice(0, 5).forEach((d) => out.add(d));
      else if (tok === 'weekends' || tok === 'weekend') ['sat', 'sun'].forEach((d) => out.add(d));
      else if (tok.includes('-')) {
        const [a, b] = tok.split('-').map(idx);
        if (a < 0 || b < 0) continue;
        for (let i = a; ; i = (i + 1) % 7) {
          out.add(DAYS[i]);
          if (i === b) break;
        }
      } else if (idx(tok) >= 0) out.add(DAYS[idx(tok)]);
    }
    return out;
  }

  function hhmm(s) {
    const m = /^(\d{1,2}):(\d{2})/.exec(String(s || ''));
    return m ? m[1].padStart(2, '0') + ':' + m[2] : '';
  }

  // schedModel turns an API Schedule into the editor's model.
  function schedModel(s) {
    const kind = s.pause ? 'pause' : (s.allow_only && s.allow_only.length) ? 'allow_only' : 'block';
    return {
      name: s.name || '',
      days: parseDays(s.days),
      from: hhmm(s.from),
      to: hhmm(s.to),
      kind,
      tags: (kind === 'allow_only' ? s.allow_only : s.block) || [],
    };
  }

  // kindNames name a schedule its parent left unnamed.
  function kindNames() {
    return { pause: t('Bedtime'), block: t('Homework'), allow_only: t('Free time') };
  }

  // toSchedule checks an editor model and makes the API's Schedule.
  function toSchedule(m, i) {
    const name = m.name.trim() || kindNames()[m.kind] || t('Schedule {n}', { n: i + 1 });
    const days = DAYS.filter((d) => m.days.has(d));
    if (!days.length) throw formError(`schedules[${i}].days`, t('{name}: choose at least one day.', { name }));
    if (!m.from) throw formError(`schedules[${i}].from`, t('{name}: choose when it starts.', { name }));
    if (!m.to) throw formError(`schedules[${i}].to`, t('{name}: choose when it ends.', { name }));
    const s = { name, days, from: m.from, to: m.to };
    if (m.kind === 'pause') s.pause = true;
    else {
      if (!m.tags.length) throw formError(`schedules[${i}].${m.kind}`, t('{name}: choose at least one category.', { name }));
      s[m.kind] = m.tags.slice();
    }
    return s;
  }

  // budgetRows reads a profile's budgets into editor rows: per tag, the
  // minutes on school days (mon-fri) and at weekends ('' for none).
  // Budgets on other days (written in the API or the config file) are
  // kept as they are, in kept.
  function budgetRows(budgets) {
    const rows = new Map();
    const kept = [];
    const kind = (days) => {
      const d = (days || []).map((x) => String(x).toLowerCase().trim()).join(',');
      if (!d || d === 'daily') return 'all';
      if (d === 'weekdays' || d === 'mon-fri') return 'school';
      if (d === 'weekends' || d === 'sat-sun' || d === 'sat,sun' || d === 'sun,sat') return 'weekend';
      return '';
    };
    for (const b of budgets || []) {
      const k = kind(b.days);
      if (!k || (rows.has(b.tag) && k === 'all')) {
        kept.push(b);
        continue;
      }
      const r = rows.get(b.tag) || { tag: b.tag, school: '', weekend: '' };
      if (k !== 'weekend') r.school = String(b.minutes);
      if (k !== 'school') r.weekend = String(b.minutes);
      rows.set(b.tag, r);
    }
    return { rows: [...rows.values()], kept };
  }

  // toBudgets turns editor rows (and the kept budgets) into the API's
  // budgets list.
  function toBudgets(rows, kept) {
    const out = [...kept];
    rows.forEach((r, i) => {
      if (!r.tag) throw formError(`budgets[${i}].tag`, t('Choose what the time budget is for.'));
      const num = (v, what) => {
        if (v === '') return null;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 1440) throw formError(`budgets[${i}].minutes`, t('{what}: give whole minutes, 0 to 1440.', { what }));
        return n;
      };
      const s = num(r.school, t('School days'));
      const w = num(r.weekend, t('Weekends'));
      if (s === null && w === null) throw formError(`budgets[${i}].minutes`, t('Give minutes for school days, weekends or both.'));
      if (s !== null && s === w) out.push({ tag: r.tag, minutes: s });
      else {
        if (s !== null) out.push({ tag: r.tag, minutes: s, days: ['weekdays'] });
        if (w !== null) out.push({ tag: r.tag, minutes: w, days: ['weekends'] });
      }
    });
    return out;
  }

  // budgetEditor is one time budget's controls; read() returns its row.
  function budgetEditor(i, r, cat, onRemove) {
    const items = cat.categories.map((c) => ({ group: c.name || c.id, items: [[c.id, t('{what} (all)', { what: c.name || c.id })], ...(c.services || []).map((s) => [s.id, s.name || s.id])] }));
    const tag = fill(ctl('select', `budget-tag-${i}`, { 'data-field': `budgets[${i}].tag`, 'aria-label': t('Time budget for') }), items, r.tag);
    const school = ctl('input', `budget-school-${i}`, { type: 'number', min: 0, max: 1440, step: 1, inputMode: 'numeric', value: r.school, 'data-field': `budgets[${i}].minutes`, placeholder: t('no limit') });
    const weekend = ctl('input', `budget-weekend-${i}`, { type: 'number', min: 0, max: 1440, step: 1, inputMode: 'numeric', value: r.weekend, 'data-field': `budgets[${i}].minutes`, placeholder: t('no limit') });
    const remove = h('button', { type: 'button', class: 'danger', testid: `budget-remove-${i}`, text: t('Remove') });
    remove.addEventListener('click', () => onRemove(i));
    const el = h('div', { class: 'sched', testid: `budget-${i}` },
      field(t('Time for'), tag),
      h('div', { class: 'grid' }, field(t('Minutes on school days (Mon–Fri)'), school), field(t('Minutes at weekends'), weekend)),
      h('div', { class: 'row end' }, remove));
    return { el, read: () => ({ tag: tag.value, school: school.value.trim(), weekend: weekend.value.trim() }) };
  }

  // schedEditor is one schedule window's controls; read() returns its model.
  function schedEditor(i, m, cat, onRemove) {
    const name = ctl('input', `schedule-name-${i}`, { type: 'text', value: m.name, maxLength: 64, 'data-field': `schedules[${i}].name` });
    const kind = fill(ctl('select', `schedule-kind-${i}`, { 'data-field': `schedules[${i}]` }), scheduleKinds(), m.kind);
    const labels = dayLabels();
    const dayBoxes = DAYS.map((d) => checkbox(`schedule-day-${i}-${d}`, labels[d], m.days.has(d), { 'data-day': d }));
    const from = ctl('input', `schedule-from-${i}`, { type: 'time', value: m.from, 'data-field': `schedules[${i}].from` });
    const to = ctl('input', `schedule-to-${i}`, { type: 'time', value: m.to, 'data-field': `schedules[${i}].to` });
    const choices = cat.categories.map((c) => [c.id, c.name || c.id]);
    for (const tag of m.tags) if (!choices.some(([id]) => id === tag)) choices.push([tag, tagName(cat, tag)]);
    const tagBoxes = choices.map(([tag, label]) => checkbox(`schedule-cat-${i}-${tag}`, label, m.tags.includes(tag), { 'data-tag': tag }));
    const catsHint = h('p', { class: 'hint' });
    const cats = h('div', { class: 'svcs', testid: `schedule-cats-${i}`, 'data-field': `schedules[${i}].${m.kind}` }, tagBoxes.map((b) => b.label));
    const catsWrap = h('div', {}, catsHint, cats);
    const sync = () => {
      catsWrap.classList.toggle('hidden', kind.value === 'pause');
      catsHint.textContent = kind.value === 'allow_only'
        ? t('Allowed only during this time (blocked the rest of the day):')
        : t('Blocked during this time:');
      cats.setAttribute('data-field', `schedules[${i}].${kind.value}`);
    };
    kind.addEventListener('change', sync);
    kind.addEventListener('input', sync);
    sync();
    const remove = h('button', { type: 'button', class: 'danger', testid: `schedule-remove-${i}`, text: t('Remove') });
    remove.addEventListener('click', () => onRemove(i));
    const el = h('div', { class: 'sched', testid: `schedule-${i}` },
      h('div', { class: 'grid' }, field(t('Name'), name), field(t('What happens'), kind)),
      h('div', { class: 'days', role: 'group', 'aria-label': t('Days'), 'data-field': `schedules[${i}].days` }, dayBoxes.map((b) => b.label)),
      h('div', { class: 'times' }, field(t('From'), from), field(t('To'), to)),
      h('p', { class: 'hint', text: t('If “To” is earlier than “From”, it ends the next day (21:00 to 07:00 is overnight).') }),
      catsWrap,
      h('div', { class: 'row end' }, remove));
    return {
      el,
      read: () => ({
        name: name.value,
        kind: kind.value,
        days: new Set(dayBoxes.filter((b) => b.box.checked).map((b) => b.box.dataset.day)),
        from: hhmm(from.value),
        to: hhmm(to.value),
        tags: tagBoxes.filter((b) => b.box.checked).map((b) => b.box.dataset.tag),
      }),
    };
  }

  async function profileScreen(seq, id) {
    const [p, cat, settings] = await Promise.all([api('GET', `/api/v1/profiles/${enc(id)}`), catalog(), api('GET', '/api/v1/settings')]);
    renderProfile(seq, p, cat, settings || {});
  }

  function baseOf(cat, presetID) {
    const p = presetOf(cat, presetID);
    return new Set(p ? p.block || [] : []);
  }

  function presetDefaults(cat, presetID) {
    const p = presetOf(cat, presetID) || {};
    return {
      ss: p.safe_search === undefined ? false : !!p.safe_search,
      yt: p.youtube || 'off',
      bp: p.bypass_protection === undefined ? (p.block || []).includes('bypass') : !!p.bypass_protection,
    };
  }

  function lines(s) {
    return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  }

  function renderProfile(seq, p, cat, settings) {
    const kind = profileKind(p, cat);
    const ro = kind !== 'custom';
    const err = errorBox('profile-error');

    // Basics.
    const name = ctl('input', 'profile-name', { type: 'text', value: p.name || '', maxLength: 64, 'data-field': 'name' });
    const preset = fill(ctl('select', 'profile-preset', { 'data-field': 'preset' }),
      [...cat.presets.map((x) => [x.id, titleCase(x.id)]), ['', t('Nothing (start empty)')]], p.preset || '');
    const presetDesc = h('p', { class: 'hint', testid: 'profile-preset-description' });

    // Categories and services: checked means blocked. The effective set is
    // the preset's block list, plus block, minus unblock.
    const original = baseOf(cat, p.preset || '');
    (p.block || []).forEach((tag) => original.add(tag));
    (p.unblock || []).forEach((tag) => original.delete(tag));
    const known = new Set();
    const catsBox = h('div', { class: 'cats', testid: 'profile-categories' });
    const catBoxes = [];
    const svcBoxes = [];
    const drawCats = (eff) => {
      catBoxes.length = 0;
      svcBoxes.length = 0;
      catsBox.replaceChildren(...cat.categories.map((c) => {
        known.add(c.id);
        const cb = checkbox(`profile-cat-${c.id}`, c.name || c.id, eff.has(c.id), { 'data-tag': c.id });
        catBoxes.push(cb.box);
        const svcs = (c.services || []).map((s) => {
          known.add(s.id);
          const own = eff.has(s.id);
          const sb = checkbox(`profile-svc-${s.id}`, s.name || s.id, own || eff.has(c.id), { 'data-tag': s.id, 'data-own': own ? '1' : '0', disabled: eff.has(c.id) });
          sb.box.addEventListener('change', () => { sb.box.dataset.own = sb.box.checked ? '1' : '0'; });
          svcBoxes.push(sb.box);
          return sb;
        });
        const box = h('div', { class: 'cat' + (eff.has(c.id) ? ' on' : '') }, cb.label,
          c.description ? h('p', { class: 'desc', text: c.description }) : null,
          svcs.length ? h('details', {}, h('summary', { text: svcs.length === 1 ? t('1 app or site: block it alone') : t('{n} apps and sites: block one by one', { n: svcs.length }) }),
            h('div', { class: 'svcs' }, svcs.map((s) => s.label))) : null);
        cb.box.addEventListener('change', () => {
          box.classList.toggle('on', cb.box.checked);
          for (const s of svcs) {
            s.box.disabled = cb.box.checked || ro;
            s.box.checked = cb.box.checked || s.box.dataset.own === '1';
          }
        });
        return box;
      }));
    };
    drawCats(original);
    // readBlocked is the effective blocked set the toggles show. A service
    // under a blocked category keeps its own setting.
    const readBlocked = () => {
      const eff = new Set([...original].filter((tag) => !known.has(tag)));
      for (const b of catBoxes) if (b.checked) eff.add(b.dataset.tag);
      for (const b of svcBoxes) if (b.disabled ? b.dataset.own === '1' : b.checked) eff.add(b.dataset.tag);
      return eff;
    };

    // Search, YouTube, bypass and log: a field left as shown keeps the
    // profile's value (which may be "follow the preset").
    let shown = presetDefaults(cat, p.preset || '');
    shown = {
      ss: p.safe_search === undefined || p.safe_search === null ? shown.ss : !!p.safe_search,
      yt: p.youtube || shown.yt,
      bp: p.bypass_protection === undefined || p.bypass_protection === null ? shown.bp : !!p.bypass_protection,
      ql: p.query_log === undefined || p.query_log === null ? true : !!p.query_log,
    };
    const ss = checkbox('profile-safe-search', t('Safe search (Google, Bing, DuckDuckGo… hide explicit results)'), shown.ss, { 'data-field': 'safe_search' });
    const yt = fill(ctl('select', 'profile-youtube', { 'data-field': 'youtube' }),
      [['off', t('No restriction')], ['moderate', t('Moderate')], ['strict', t('Strict')]], shown.yt);
    const bp = checkbox('profile-bypass', t('Stop ways around the filter (VPNs, proxies, other DNS services)'), shown.bp, { 'data-field': 'bypass_protection' });
    const ql = checkbox('profile-query-log', t('Keep an activity log for this profile'), shown.ql, { 'data-field': 'query_log' });

    const describe = () => {
      const x = presetOf(cat, preset.value);
      presetDesc.textContent = x ? x.description || '' : t('Nothing is blocked unless you choose it below.');
    };
    describe();
    preset.addEventListener('change', () => {
      describe();
      drawCats(baseOf(cat, preset.value));
      const d = presetDefaults(cat, preset.value);
      if ((p.safe_search === undefined || p.safe_search === null) && ss.box.checked === shown.ss) ss.box.checked = shown.ss = d.ss;
      if (!p.youtube && yt.value === shown.yt) yt.value = shown.yt = d.yt;
      if ((p.bypass_protection === undefined || p.bypass_protection === null) && bp.box.checked === shown.bp) bp.box.checked = shown.bp = d.bp;
    });

    const allow = ctl('textarea', 'profile-allow', { value: (p.allow || []).join('\n'), 'data-field': 'allow', spellcheck: 'false', autocapitalize: 'none' });
    const deny = ctl('textarea', 'profile-deny', { value: (p.deny || []).join('\n'), 'data-field': 'deny', spellcheck: 'false', autocapitalize: 'none' });
    const tz = ctl('input', 'profile-timezone', {
      type: 'text', value: p.time_zone || '', 'data-field': 'time_zone', list: 'zones', autocomplete: 'off',
      placeholder: settings.time_zone ? t('Same as the home ({zone})', { zone: settings.time_zone }) : t('Same as the home'),
    });
    const zones = h('datalist', { id: 'zones' }, allZones().map((z) => h('option', { value: z })));

    // Schedules.
    const schedBox = h('div', { testid: 'schedule-list' });
    let editors = [];
    const drawScheds = (models) => {
      editors = models.map((m, i) => schedEditor(i, m, cat, (at) => {
        const cur = editors.map((e) => e.read());
        cur.splice(at, 1);
        drawScheds(cur);
      }));
      schedBox.replaceChildren(...editors.map((e) => e.el));
      if (!editors.length) schedBox.append(h('p', { class: 'muted', testid: 'schedule-empty', text: t('No schedules yet. Add bedtime, homework time or free time.') }));
    };
    drawScheds((p.schedules || []).map(schedModel));
    const add = h('button', { type: 'button', testid: 'schedule-add', text: '+ ' + t('Add a schedule') });
    add.addEventListener('click', () => {
      const cur = editors.map((e) => e.read());
      cur.push({ name: t('Bedtime'), kind: 'pause', days: new Set(DAYS), from: '21:00', to: '07:00', tags: [] });
      drawScheds(cur);
      const n = document.getElementById(`schedule-name-${cur.length - 1}`);
      if (n) n.focus();
    });

    // Time budgets.
    const budgetBox = h('div', { testid: 'budget-list' });
    const budgetStart = budgetRows(p.budgets);
    let budgetEditors = [];
    const drawBudgets = (rows) => {
      budgetEditors = rows.map((r, i) => budgetEditor(i, r, cat, (at) => {
        const cur = budgetEditors.map((e) => e.read());
        cur.splice(at, 1);
        drawBudgets(cur);
      }));
      budgetBox.replaceChildren(...budgetEditors.map((e) => e.el));
      if (!budgetEditors.length && !budgetStart.kept.length) budgetBox.append(h('p', { class: 'muted', testid: 'budget-empty', text: t('No time budgets. Add one to limit games, social media or videos to some time a day.') }));
      if (budgetStart.kept.length) budgetBox.append(h('p', { class: 'muted', text: budgetStart.kept.length === 1 ? t('1 more budget on other days (set in the API or the config file) stays as it is.') : t('{n} more budgets on other days (set in the API or the config file) stay as they are.', { n: budgetStart.kept.length }) }));
    };
    drawBudgets(budgetStart.rows);
    const addBudget = h('button', { type: 'button', testid: 'budget-add', text: '+ ' + t('Add a time budget') });
    addBudget.addEventListener('click', () => {
      const cur = budgetEditors.map((e) => e.read());
      cur.push({ tag: 'games', school: '60', weekend: '120' });
      drawBudgets(cur);
      const n = document.getElementById(`budget-tag-${cur.length - 1}`);
      if (n) n.focus();
    });

    const save = h('button', { type: 'submit', class: 'primary', testid: 'profile-save', text: t('Save profile') });
    const body = () => {
      if (!name.value.trim()) throw formError('name', t('Please give the profile a name.'));
      const base = baseOf(cat, preset.value);
      const eff = readBlocked();
      const out = Object.assign({}, p, {
        name: name.value.trim(),
        preset: preset.value,
        block: [...eff].filter((tag) => !base.has(tag)),
        unblock: [...base].filter((tag) => !eff.has(tag)),
        allow: lines(allow.value),
        deny: lines(deny.value),
        safe_search: ss.box.checked === shown.ss ? p.safe_search : ss.box.checked,
        youtube: yt.value === shown.yt ? p.youtube : yt.value,
        bypass_protection: bp.box.checked === shown.bp ? p.bypass_protection : bp.box.checked,
        query_log: ql.box.checked === shown.ql ? p.query_log : ql.box.checked,
        time_zone: tz.value.trim(),
        schedules: editors.map((e, i) => toSchedule(e.read(), i)),
        budgets: toBudgets(budgetEditors.map((e) => e.read()), budgetStart.kept),
      });
      delete out.provisioned;
      return out;
    };

    const fields = h('fieldset', { disabled: ro, class: 'plain' },
      h('div', { class: 'card' }, h('h2', { text: t('About') }),
        h('div', { class: 'grid' }, field(t('Name'), name), field(t('Starts from'), preset)),
        presetDesc,
        ro ? null : h('p', { class: 'hint', text: t('Changing the starting point resets the choices below to it.') })),
      h('div', { class: 'card' }, h('h2', { text: t('What to block') }),
        h('p', { class: 'muted', text: t('Ticked means blocked. Blocking a category blocks all its apps and sites.') }),
        catsBox),
      h('div', { class: 'card' }, h('h2', { text: t('Search and YouTube') }),
        h('div', { class: 'checks' }, ss.label), field(t('YouTube restricted mode'), yt), h('div', { class: 'checks' }, bp.label, ql.label)),
      h('div', { class: 'card' }, h('h2', { text: t('Always allow, always block') }),
        h('div', { class: 'grid' },
          field(t('Always allow'), allow, t('One site per line, e.g. khanacademy.org (its subdomains too).')),
          field(t('Always block'), deny, t('One site per line.')))),
      h('div', { class: 'card' }, h('h2', { text: t('Schedules') }),
        h('p', { class: 'muted', text: t('Weekly times when the rules change: bedtime pauses everything, homework blocks distractions, free time opens games only then.') }),
        schedBox,
        ro ? null : add,
        field(t('Time zone for schedules'), tz),
        zones),
      h('div', { class: 'card' }, h('h2', { text: t('Time budgets') }),
        h('p', { class: 'muted', text: t('Daily time for a category or an app, counted in minutes the device uses it. When it is used up, it is blocked until midnight; you can give extra time from the dashboard.') }),
        budgetBox,
        ro ? null : addBudget));
    const form = h('form', { novalidate: true, testid: 'profile-form' }, fields, err,
      ro ? null : h('div', { class: 'row end' }, save));
    let saving = false;
    if (!ro) {
      // What the form would save, to tell edits from none.
      const saved = () => {
        try {
          return JSON.stringify(body());
        } catch (e) {
          return 'invalid';
        }
      };
      const initial = saved();
      // While a save is on its way, leaving loses nothing: it completes.
      state.guard = () => (!saving && saved() !== initial ? t('Your changes to “{name}” are not saved yet.', { name: profileName(p) }) : '');
    }
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (ro) return;
      busy(save, async () => {
        clearError(err, form);
        try {
          const b = body();
          saving = true;
          const saved = await api('PUT', `/api/v1/profiles/${enc(p.id)}`, b);
          state.guard = null;
          toast(t('Saved “{name}”.', { name: profileName(saved) }));
          renderProfile(seq, saved, cat, settings);
        } catch (e) {
          saving = false;
          if (e.status === 409) {
            toast(t('This profile was changed somewhere else, so the latest version is shown. Please make your change again.'), true);
            route();
          } else if (e.status !== 401) showError(err, e, form);
        }
      });
    });

    // Read-only profiles can be copied.
    let copyCard = null;
    if (ro) {
      const copyName = ctl('input', 'profile-copy-name', { type: 'text', value: t('{name} (my copy)', { name: profileName(p) }), maxLength: 64, 'data-field': 'name' });
      const copy = h('button', { type: 'submit', class: 'primary', testid: 'profile-copy', text: t('Copy to a new profile') });
      const copyErr = errorBox('profile-copy-error');
      const copyForm = h('form', { novalidate: true }, field(t('Name of the copy'), copyName), copyErr, h('div', { class: 'row end' }, copy));
      copyForm.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(copy, async () => {
          clearError(copyErr, copyForm);
          try {
            if (!copyName.value.trim()) throw formError('name', t('Please give the copy a name.'));
            const b = Object.assign({}, p, { name: copyName.value.trim() });
            if (kind === 'preset' && !b.preset) b.preset = p.id;
            delete b.id;
            delete b.version;
            delete b.provisioned;
            delete b.household;
            const made = await api('POST', '/api/v1/profiles', b);
            toast(t('Profile “{name}” created.', { name: profileName(made) }));
            go(`#/profiles/${enc(made.id)}`);
          } catch (e) {
            if (e.status !== 401) showError(copyErr, e, copyForm);
          }
        });
      });
      copyCard = h('div', { class: 'card' },
        h('p', { class: 'note', testid: 'profile-readonly-note', text: kind === 'preset'
          ? t('This is a ready-made preset, so it can’t be changed. Copy it to make your own version.')
          : t('This profile is set in the config file, so it can only be changed there. Copy it to make a version you can change here.') }),
        copyForm);
    }

    let del = null;
    if (!ro) {
      del = h('button', { type: 'button', class: 'danger', testid: 'profile-delete', text: t('Delete profile') });
      del.addEventListener('click', () => {
        if (!window.confirm(t('Delete the profile “{name}”?', { name: profileName(p) }))) return;
        busy(del, async () => {
          try {
            await api('DELETE', `/api/v1/profiles/${enc(p.id)}`);
            state.guard = null;
            toast(t('Profile “{name}” deleted.', { name: profileName(p) }));
            go('#/profiles');
          } catch (e) {
            if (e.status !== 401) showError(err, e);
          }
        });
      });
    }

    mount(seq, 'screen-profile',
      h('a', { href: '#/profiles', testid: 'profile-back', text: '‹ ' + t('All profiles') }),
      h('h1', {}, profileName(p), ro ? h('span', { class: 'badge ro', text: kind === 'preset' ? t('ready-made') : t('config file') }) : null),
      copyCard,
      form,
      del ? h('div', { class: 'row end' }, del) : null);
  }

  // ------------------------------------------------------------ query log

  async function logScreen(seq) {
    const [devs, cat] = await Promise.all([api('GET', '/api/v1/devices'), catalog()]);
    const devices = (devs && devs.devices) || [];
    const byID = new Map(devices.map((d) => [d.id, d]));
    const f = state.logFilter;

    const dev = fill(ctl('select', 'log-device', { 'data-field': 'device' }), [['', t('All devices')], ...devices.map((d) => [d.id, deviceName(d)])], f.device);
    const act = fill(ctl('select', 'log-decision', { 'data-field': 'action' }), decisions(), f.action);
    const name = ctl('input', 'log-name', { type: 'search', value: f.name, placeholder: t('e.g. youtube'), autocomplete: 'off', 'data-field': 'name' });
    const refresh = h('button', { type: 'submit', class: 'primary', testid: 'log-refresh', text: t('Show') });
    const err = errorBox('log-error');
    const form = h('form', { class: 'filters', novalidate: true },
      field(t('Device'), dev), field(t('Decision'), act), field(t('Site name contains'), name), h('div', {}, refresh));
    const rows = h('tbody', { testid: 'log-rows' });
    const table = h('table', { testid: 'log-table' },
      h('thead', {}, h('tr', {}, [t('Time'), t('Device'), t('Site'), t('Decision'), t('Why')].map((col) => h('th', { scope: 'col', text: col })))),
      rows);
    const empty = h('p', { class: 'muted hidden', testid: 'log-empty', text: t('Nothing to show.') });
    const off = h('p', { class: 'note hidden', testid: 'log-disabled', text: t('The activity log is turned off in the config file.') });
    const more = h('button', { type: 'button', class: 'hidden', testid: 'log-more', text: t('Load more') });
    let next = 0;
    let loads = 0;

    const load = async (reset) => {
      const mine = ++loads;
      f.device = dev.value;
      f.action = act.value;
      f.name = name.value.trim();
      clearError(err, form);
      try {
        const r = await api('GET', '/api/v1/querylog' + qs({ device: f.device, action: f.action, name: f.name, limit: 100, before: reset ? 0 : next }));
        if (mine !== loads || seq !== state.seq) return;
        if (reset) rows.replaceChildren();
        for (const row of (r && r.rows) || []) rows.append(logRow(row, byID, cat));
        next = (r && r.next_before) || 0;
        more.classList.toggle('hidden', !next);
        empty.classList.toggle('hidden', rows.children.length > 0);
        off.classList.toggle('hidden', !(r && r.disabled));
      } catch (e) {
        if (e.status !== 401) showError(err, e, form);
      }
    };
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(refresh, () => load(true));
    });
    dev.addEventListener('change', () => load(true));
    act.addEventListener('change', () => load(true));
    more.addEventListener('click', () => busy(more, () => load(false)));

    if (!mount(seq, 'screen-log',
      h('h1', { text: t('Activity') }),
      h('div', { class: 'card' }, form, err),
      h('div', { class: 'card' }, off, table, empty, h('div', { class: 'row' }, more)))) return;
    await load(true);
  }

  // allowAlways allows a name or a tag for good in the profile device d
  // gets, and returns the saved profile. A service or category goes into
  // the profile's unblock list (and out of its block list): the lists
  // keep following the service's domains, and malware protection and
  // schedules stay. A name goes into its allow list. Presets and the
  // config file's profiles cannot change: the parent is told to copy.
  async function allowAlways(d, tag, target) {
    const id = d.profile || d.effective_profile;
    const p = await api('GET', `/api/v1/profiles/${enc(id)}`);
    if (p.provisioned) {
      throw new Error(t('{name} is a ready-made or config-file profile, so it cannot change for good: copy it on the Profiles screen, or allow for today.', { name: profileName(p) }));
    }
    const body = Object.assign({}, p);
    delete body.provisioned;
    if (tag) {
      body.block = (p.block || []).filter((x) => x !== target);
      if (!(body.unblock || []).includes(target)) body.unblock = [...(p.unblock || []), target];
    } else if (!(p.allow || []).includes(target)) {
      body.allow = [...(p.allow || []), target];
    }
    return api('PUT', `/api/v1/profiles/${enc(id)}`, body);
  }

  function logRow(row, byID, cat) {
    const d = byID.get(row.device);
    const who = d ? deviceName(d) : row.device || row.client || t('Unknown device');
    const blocked = row.action === 'blocked' || row.action === 'nxdomain' || row.action === 'nodata';
    const label = (decisions().find(([v]) => v === row.action) || [row.action, row.action])[1];
    // The plain words first, then the server's explanation text.
    const plain = reasonWords(row, cat);
    const why = h('td', { class: 'reason' },
      plain && row.text ? h('div', { text: plain }) : null,
      h('div', { class: row.text && plain ? 'small muted' : '', testid: `log-reason-${row.id}`, text: row.text || plain }));
    if (row.action === 'blocked' && d) {
      // What to allow: the name, or the service or category the block
      // came from (tiktok.com alone leaves tiktokcdn.com blocked).
      const fromTag = row.tag && (row.reason === 'tag' || row.reason === 'schedule');
      const whats = [['name', t('only {name}', { name: row.name })]];
      if (fromTag) whats.unshift(['tag', t('all of {what}', { what: tagName(cat, row.tag) })]);
      const what = fill(ctl('select', `log-allow-what-${row.id}`, { 'aria-label': t('What to allow') }), whats, whats[0][0]);
      const dur = fill(ctl('select', `log-allow-duration-${row.id}`, { 'aria-label': t('For how long') }),
        [['30', duration(30)], ['60', duration(60)], ['today', t('today')], ['always', t('always (changes the profile)')]], '30');
      const btn = h('button', { type: 'button', testid: `log-allow-${row.id}`, text: t('Allow for this device') });
      const box = h('div', { class: 'allow' }, btn, what, dur);
      btn.addEventListener('click', () => busy(btn, async () => {
        const tag = what.value === 'tag';
        const target = tag ? row.tag : row.name;
        const label = tag ? tagName(cat, row.tag) : row.name;
        try {
          if (dur.value === 'always') {
            const p = await allowAlways(d, tag, target);
            toast(t('{what} allowed for good in profile {profile}.', { what: label, profile: profileName(p) }));
            box.replaceChildren(h('span', { class: 'badge allowed', testid: `log-allowed-${row.id}`, text: t('Allowed in profile {profile}', { profile: profileName(p) }) }));
            return;
          }
          const body = { device: d.id, kind: 'allow', target };
          if (dur.value === 'today') body.until = zoneClock(new Date(), 0, 0, 1).toISOString();
          else body.minutes = Number(dur.value) || 30;
          const g = await api('POST', '/api/v1/grants', body);
          toast(t('{what} allowed for {device} until {time}', { what: label, device: who, time: when(g.until) }));
          box.replaceChildren(h('span', { class: 'badge allowed', testid: `log-allowed-${row.id}`, text: t('{what} allowed until {time}', { what: label, time: when(g.until) }) }));
        } catch (e) {
          if (e.status !== 401) toast(e.message, true);
        }
      }));
      why.append(box);
    }
    return h('tr', { testid: `log-row-${row.id}`, 'data-action': row.action, 'data-name': row.name },
      h('td', { class: 'when', text: logTime(row.time) }),
      h('td', { class: 'who', text: who }),
      h('td', { class: 'name', text: row.count > 1 ? `${row.name} ×${row.count}` : row.name }),
      h('td', { class: 'decision' }, h('span', { class: 'badge ' + (blocked ? 'blocked' : row.action === 'allowed' ? 'allowed' : ''), testid: `log-decision-${row.id}`, text: label })),
      why);
  }

  // ------------------------------------------------------------- settings

  // scopes are what a token may do, as the Settings screen words them.
  function scopes() {
    return {
      read: t('Read only'),
      metrics: t('Read /metrics only'),
      admin: t('Everything you can do'),
    };
  }

  async function settingsScreen(seq) {
    const [settings, profs, cat, toks] = await Promise.all([
      api('GET', '/api/v1/settings'), api('GET', '/api/v1/profiles'), catalog(), api('GET', '/api/v1/tokens'),
    ]);
    const profiles = (profs && profs.profiles) || [];

    // Home.
    const zone = zonePicker('settings', settings.time_zone || 'UTC');
    const fixed = settings.config_default_profile;
    const defProf = fill(ctl('select', 'settings-default-profile', { 'data-field': 'default_profile', disabled: !!fixed }), profileChoices(profiles, cat), fixed || settings.default_profile || '');
    const sErr = errorBox('settings-error');
    const sSave = h('button', { type: 'submit', class: 'primary', testid: 'settings-save', text: t('Save') });
    const sForm = h('form', { novalidate: true }, zone.nodes, field(t('Profile for new devices'), defProf),
      fixed ? h('div', { testid: 'settings-default-profile-note' }, configWins(fixed, settings.config_default_profile_at)) : null,
      sErr, h('div', { class: 'row end' }, sSave));
    sForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(sSave, async () => {
        clearError(sErr, sForm);
        try {
          await api('PUT', '/api/v1/settings', { time_zone: zone.value(), default_profile: fixed ? '' : defProf.value });
          state.tz = '';
          toast(t('Settings saved.'));
          route();
        } catch (e) {
          if (e.status !== 401) showError(sErr, e, sForm);
        }
      });
    });

    // Password.
    const cur = ctl('input', 'password-current', { type: 'password', autocomplete: 'current-password', 'data-field': 'current' });
    const nw = ctl('input', 'password-new', { type: 'password', autocomplete: 'new-password', 'data-field': 'new' });
    const nw2 = ctl('input', 'password-new2', { type: 'password', autocomplete: 'new-password', 'data-field': 'new2' });
    const pErr = errorBox('password-error');
    const pSave = h('button', { type: 'submit', class: 'primary', testid: 'password-submit', text: t('Change password') });
    const pForm = h('form', { novalidate: true },
      h('input', { type: 'text', autocomplete: 'username', value: state.user || 'admin', hidden: true, tabIndex: -1, 'aria-hidden': 'true' }),
      field(t('Current password'), cur), field(t('New password'), nw, t('At least 10 characters, not a common one. Changing it logs out your other browsers and revokes every API token.')), field(t('New password again'), nw2), pErr,
      h('div', { class: 'row end' }, pSave));
    pForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(pSave, async () => {
        clearError(pErr, pForm);
        try {
          if (!cur.value) throw formError('current', t('Type your current password.'));
          if (!nw.value.trim()) throw formError('new', t('Choose a new password.'));
          if ([...nw.value].length < 10) throw formError('new', t('The new password needs at least 10 characters.'));
          if (nw.value !== nw2.value) throw formError('new2', t('The two new passwords are not the same.'));
          await api('POST', '/api/v1/password', { current: cur.value, new: nw.value });
          cur.value = nw.value = nw2.value = '';
          toast(t('Password changed. Other browsers are logged out and API tokens revoked.'));
          const r = await api('GET', '/api/v1/tokens');
          drawTokens((r && r.tokens) || []);
        } catch (e) {
          if (e.status !== 401) showError(pErr, e, pForm);
        }
      });
    });

    // API tokens.
    const tErr = errorBox('token-error');
    const tList = h('ul', { class: 'list', testid: 'token-list' });
    const drawTokens = (tokens) => {
      tList.replaceChildren(...tokens.map((tok) => {
        const revoke = h('button', { type: 'button', class: 'danger', testid: `token-revoke-${tok.id}`, text: t('Revoke') });
        revoke.addEventListener('click', () => busy(revoke, async () => {
          clearError(tErr);
          try {
            await api('DELETE', `/api/v1/tokens/${enc(tok.id)}`);
            toast(t('Token “{name}” revoked.', { name: tok.name }));
            const r = await api('GET', '/api/v1/tokens');
            drawTokens((r && r.tokens) || []);
          } catch (e) {
            if (e.status !== 401) showError(tErr, e);
          }
        }));
        const facts = [
          scopes()[tok.scope] || tok.scope,
          tok.created ? t('created {time}', { time: when(tok.created) }) : '',
          tok.last_used ? t('last used {time}', { time: when(tok.last_used) }) : t('never used'),
          tok.expires ? (tok.expired ? t('expired {time}', { time: when(tok.expires) }) : t('expires {time}', { time: when(tok.expires) })) : t('never expires'),
        ].filter(Boolean).join(' · ');
        return h('li', { class: 'item', testid: `token-row-${tok.id}` },
          h('div', {},
            h('div', { class: 'title', text: tok.name || tok.id },
              tok.expired ? h('span', { class: 'badge blocked', text: t('expired') }) : null),
            h('div', { class: 'sub', testid: `token-facts-${tok.id}`, text: facts })),
          revoke);
      }));
      if (!tokens.length) tList.append(h('li', { class: 'muted item', text: t('No tokens.') }));
    };
    drawTokens((toks && toks.tokens) || []);
    const tName = ctl('input', 'token-name', { type: 'text', 'data-field': 'name', placeholder: t('Home Assistant'), maxLength: 64 });
    const tScope = fill(ctl('select', 'token-scope', { 'data-field': 'scope' }), Object.entries(scopes()), 'read');
    const tExpires = fill(ctl('select', 'token-expires', { 'data-field': 'expires' }),
      [['30', t('in {n} days', { n: 30 })], ['90', t('in {n} days', { n: 90 })], ['365', t('in a year')], ['', t('never')]], '90');
    const tCreate = h('button', { type: 'submit', testid: 'token-create', text: t('Create token') });
    const tNew = h('div', { class: 'note hidden', testid: 'token-new' });
    const tForm = h('form', { novalidate: true }, field(t('New token for'), tName), field(t('It may'), tScope), field(t('It expires'), tExpires),
      h('div', { class: 'row end' }, tCreate));
    tForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(tCreate, async () => {
        clearError(tErr, tForm);
        try {
          if (!tName.value.trim()) throw formError('name', t('Say what the token is for.'));
          const req = { name: tName.value.trim(), scope: tScope.value };
          if (tExpires.value) req.expires = new Date(Date.now() + Number(tExpires.value) * 86400000).toISOString();
          const made = await api('POST', '/api/v1/tokens', req);
          const value = ctl('input', 'token-new-value', { type: 'text', readOnly: true, value: made.token || '', class: 'token' });
          const copyBtn = h('button', { type: 'button', testid: 'token-copy', text: t('Copy') });
          copyBtn.addEventListener('click', async () => {
            value.select();
            try {
              await navigator.clipboard.writeText(value.value);
              toast(t('Token copied.'));
            } catch (e) {
              toast(t('Select the token and copy it by hand.'));
            }
          });
          tNew.replaceChildren(h('p', { text: t('Copy this token now: it will not be shown again.') }), value, h('div', { class: 'row end' }, copyBtn));
          tNew.classList.remove('hidden');
          tName.value = '';
          const r = await api('GET', '/api/v1/tokens');
          drawTokens((r && r.tokens) || []);
        } catch (e) {
          if (e.status !== 401) showError(tErr, e, tForm);
        }
      });
    });

    // Lists, read-only; the page works without them.
    const sources = h('ul', { class: 'list', testid: 'sources-list' });
    api('GET', '/api/v1/sources').then((r) => {
      for (const s of (r && r.sources) || []) {
        const bad = s.state === 'failed' || s.state === 'stale' || (!s.state && s.error);
        sources.append(h('li', { class: 'item' },
          h('div', {}, h('div', { class: 'title', text: tagName(cat, s.tag) }), h('div', { class: 'sub', text: s.id })),
          h('span', { class: bad ? 'badge blocked' : 'muted', testid: `source-state-${s.id}`, 'data-state': s.state || '', text: sourceStatus(s) })));
      }
      if (!sources.children.length) sources.append(h('li', { class: 'muted item', text: t('No lists.') }));
    }).catch(() => {
      sources.append(h('li', { class: 'muted item', text: t('Could not read the lists.') }));
    });

    const out = h('button', { type: 'button', testid: 'logout', text: t('Log out') });
    out.addEventListener('click', () => busy(out, logout));

    mount(seq, 'screen-settings',
      h('h1', { text: t('Settings') }),
      h('div', { class: 'grid' },
        h('div', { class: 'card' }, h('h2', { text: t('Your home') }), sForm),
        h('div', { class: 'card' }, h('h2', { text: t('Password') }), pForm)),
      h('div', { class: 'card' }, h('h2', { text: t('API tokens') }),
        h('p', { class: 'muted', text: t('For home automation, scripts and Prometheus. Give each token only what it needs, and keep it secret.') }),
        tList, tForm, tNew, tErr),
      backupCard(),
      h('details', { class: 'card' }, h('summary', { text: t('Block lists') }), sources),
      h('div', { class: 'card spread' }, h('span', { class: 'muted', text: t('Logged in as {user}', { user: state.user || 'admin' }) }), out));
  }

  // backupCard downloads the whole setup as a file (GET /api/v1/export,
  // with the session cookie) and restores one (POST /api/v1/import): all
  // of it or, when the server refuses an item, nothing.
  function backupCard() {
    const download = h('a', { href: '/api/v1/export', download: '', class: 'button', testid: 'backup-export', text: t('Download a backup') });
    const file = ctl('input', 'backup-file', { type: 'file', accept: 'application/json,.json', 'data-field': 'file' });
    const replace = checkbox('backup-replace', t('Replace the devices and profiles that are here now'), false);
    const err = errorBox('backup-error');
    const restore = h('button', { type: 'submit', testid: 'backup-import', text: t('Restore') });
    const form = h('form', { novalidate: true }, field(t('Restore from a backup file'), file), h('div', { class: 'checks' }, replace.label), err,
      h('div', { class: 'row end' }, restore));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(restore, async () => {
        clearError(err, form);
        try {
          const f = file.files && file.files[0];
          if (!f) throw formError('file', t('Choose a backup file.'));
          let doc;
          try {
            doc = JSON.parse(await f.text());
          } catch (e) {
            throw formError('file', t('This file is not a Hearth backup.'));
          }
          const r = await api('POST', '/api/v1/import' + (replace.box.checked ? '?replace=true' : ''), doc);
          state.tz = '';
          toast(t('Restored {profiles} profiles and {devices} devices.', { profiles: r.profiles, devices: r.devices }));
          route();
        } catch (e) {
          if (e.status === 409) showError(err, new APIError(409, t('Hearth already has devices or profiles. Tick “Replace the devices and profiles that are here now” to replace them with the backup.')), form);
          else if (e.status !== 401) showError(err, e, form);
        }
      });
    });
    return h('div', { class: 'card', testid: 'backup' }, h('h2', { text: t('Backup') }),
      h('p', { class: 'muted', text: t('A backup holds your households, profiles, devices and settings, never passwords or API tokens. Restore it into a new Hearth to move, or here to go back.') }),
      h('div', { class: 'row' }, download), form);
  }

  async function logout() {
    try {
      await api('POST', '/api/v1/logout', undefined, { auth: false });
    } catch (e) {
      // The session is forgotten here either way.
    }
    loggedOut(t('You are logged out.'));
  }

  // ----------------------------------------------------------------- boot

  // storageBanner shows, above every page, what keeps Hearth's data
  // directory from working (GET /api/v1/status). It returns false when
  // the database is unavailable: then there is no setup or login to show.
  async function storageBanner() {
    let s;
    try {
      s = await api('GET', '/api/v1/status', undefined, { auth: false });
    } catch (e) {
      return true; // an older server, or a network error the next call reports
    }
    if (!s || !s.degraded) return true;
    const banner = document.createElement('div');
    banner.className = 'banner';
    banner.setAttribute('role', 'alert');
    banner.dataset.testid = 'storage-banner';
    for (const p of s.problems || []) {
      const line = document.createElement('p');
      line.textContent = p;
      banner.appendChild(line);
    }
    document.getElementById('top').after(banner);
    if (!s.store_ok) {
      const view = document.getElementById('view');
      view.textContent = '';
      const p = document.createElement('p');
      p.textContent = t('Settings cannot be shown or changed until the database is restored. DNS keeps filtering with the policy shown as {from}.', { from: s.policy_from });
      view.appendChild(p);
      return false;
    }
    return true;
  }

  async function boot() {
    await loadMessages();
    langMenu();
    document.getElementById('nav-logout').addEventListener('click', (ev) => busy(ev.currentTarget, logout));
    window.addEventListener('hashchange', (ev) => {
      // Leaving a screen with unsaved edits asks first (see state.guard):
      // the address goes back until the parent chooses.
      const msg = state.guard ? state.guard() : '';
      if (msg) {
        const target = location.hash;
        history.replaceState(null, '', ev.oldURL);
        askLeave(msg, target);
        return;
      }
      route();
    });
    window.addEventListener('beforeunload', (ev) => {
      if (state.guard && state.guard()) {
        ev.preventDefault();
        ev.returnValue = '';
      }
    });
    const seq = state.seq;
    if (!(await storageBanner())) return;
    try {
      const s = await api('GET', '/api/v1/setup', undefined, { auth: false });
      if (s && s.needed) {
        wizardStep1();
        return;
      }
    } catch (e) {
      fatal(seq, e);
      return;
    }
    try {
      const s = await api('GET', '/api/v1/session', undefined, { auth: false });
      state.csrf = s.csrf;
      state.user = s.user;
    } catch (e) {
      if (e.status === 401) showLogin('');
      else fatal(seq, e);
      return;
    }
    try {
      await afterLogin();
    } catch (e) {
      if (e.status !== 401) fatal(state.seq, e);
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
