// Console entry point: loads the configuration and reference lists, then routes on the URL
// hash (#/search?…, #/offer/{id}, #/admin) so every view can be bookmarked and reloaded.

import { h, clear, announce } from './dom.js';
import { t, getLang, setLang, applyStatic } from './i18n.js';
import { api, getToken, setToken } from './fhir.js';
import { renderSearch } from './search.js';
import { renderDetail } from './detail.js';
import { renderAdmin } from './admin.js';

const ctx = {
  config: { fhirBase: '../fhir', adminBase: '../admin', tileUrl: null },
  codes: null,
  departments: [],
  lastSearch: '#/search',
};

let dispose = null;
let firstRender = true;

function parseHash() {
  const hash = window.location.hash.replace(/^#/, '') || '/search';
  const [path, query = ''] = hash.split('?');
  const parts = path.split('/').filter(Boolean);
  return { parts, query: new URLSearchParams(query) };
}

function route() {
  const main = document.getElementById('main');
  if (dispose) { dispose(); dispose = null; }
  const { parts, query } = parseHash();
  const page = parts[0] || 'search';
  document.title = `${t(`title.${page}`, {}, t('title.search'))} — ${t('app.name')}`;
  for (const link of document.querySelectorAll('nav.main-nav a')) {
    if (link.dataset.route === page || (page === 'offer' && link.dataset.route === 'search')) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (page === 'offer' && parts[1]) {
    dispose = renderDetail(main, ctx, decodeURIComponent(parts[1]));
  } else if (page === 'admin') {
    dispose = renderAdmin(main, ctx);
  } else {
    ctx.lastSearch = window.location.hash || '#/search';
    dispose = renderSearch(main, ctx, query);
  }
  // Moving focus to the new heading tells keyboard and screen-reader users the view changed.
  if (!firstRender) main.querySelector('h1')?.focus();
  firstRender = false;
}

function setupLanguage() {
  const button = document.getElementById('lang-toggle');
  const update = () => {
    const other = getLang() === 'fr' ? 'en' : 'fr';
    button.textContent = other.toUpperCase();
    button.setAttribute('lang', other);
    button.setAttribute('aria-label', t('lang.switch'));
    button.title = t('lang.switch');
    applyStatic(document);
  };
  button.addEventListener('click', () => {
    setLang(getLang() === 'fr' ? 'en' : 'fr');
    update();
    route();
    announce(t('lang.changed'));
  });
  update();
}

function setupSettings() {
  const toggle = document.getElementById('settings-toggle');
  const panel = document.getElementById('settings');
  const form = document.getElementById('settings-form');
  const input = document.getElementById('settings-token');
  const state = document.getElementById('settings-state');
  const showState = () => { state.textContent = t(getToken() ? 'settings.tokenSet' : 'settings.tokenUnset'); };
  toggle.addEventListener('click', () => {
    const open = panel.hidden;
    panel.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) { input.value = getToken(); showState(); input.focus(); }
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    showState();
    announce(state.textContent);
  });
  document.getElementById('settings-clear').addEventListener('click', () => {
    input.value = '';
    setToken('');
    showState();
    announce(state.textContent);
  });
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      panel.hidden = true;
      toggle.setAttribute('aria-expanded', 'false');
      toggle.focus();
    }
  });
}

async function start() {
  document.documentElement.lang = getLang();
  applyStatic(document);
  setupLanguage();
  setupSettings();
  const [config, codes, departments] = await Promise.allSettled([
    api('config.json'), api('data/codes.json'), api('data/departments.json'),
  ]);
  if (config.status === 'fulfilled') ctx.config = { ...ctx.config, ...config.value.body };
  if (codes.status === 'fulfilled') ctx.codes = codes.value.body;
  if (departments.status === 'fulfilled') ctx.departments = departments.value.body?.departments || [];
  const failed = [config, codes, departments].filter((r) => r.status === 'rejected');
  if (failed.length) {
    const banner = document.getElementById('banner');
    clear(banner).append(h('p', { class: 'warning', role: 'alert' }, t('app.partialLoad', { detail: failed.map((f) => f.reason?.message).join('; ') })));
  }
  window.addEventListener('hashchange', route);
  if (!window.location.hash) history.replaceState(null, '', '#/search');
  route();
  document.body.dataset.ready = 'true';
}

start();
