// Search page: a form that writes one FHIR HealthcareService request (shown, copyable as curl),
// then the matches as a list and on the map, in the order the server returns them.

import { h, clear, announce, copyText } from './dom.js';
import { t, formatNumber } from './i18n.js';
import {
  api, buildSearch, curlCommand, getToken, queryString, samePath, BundleView,
  offerFreeBeds, position, communeOf,
} from './fhir.js';
import { MapView } from './map.js';

const FIELDS = ['text', 'textMode', 'activity', 'offerType', 'place', 'commune', 'lat', 'lon', 'radius',
  'department', 'beds', 'priceType', 'price', 'count'];
const DEFAULTS = { textMode: 'content', place: 'none', radius: '20', count: '50' };

/** Form state from the hash query, so a search can be bookmarked and survives a language switch. */
function stateFromQuery(query) {
  const state = { ...DEFAULTS };
  for (const field of FIELDS) {
    if (query.has(field)) state[field] = query.get(field);
  }
  return state;
}

function queryFromState(state) {
  const query = new URLSearchParams();
  for (const field of FIELDS) {
    const value = state[field];
    if (value !== undefined && value !== null && String(value) !== '' && value !== DEFAULTS[field]) {
      query.set(field, value);
    }
  }
  if ([...query.keys()].length === 0) query.set('run', '1');
  return query;
}

function field(id, labelKey, control, hintKey) {
  const hint = hintKey ? h('p', { class: 'hint', id: `${id}-hint` }, t(hintKey)) : null;
  if (hint) control.setAttribute('aria-describedby', `${id}-hint ${id}-error`);
  else control.setAttribute('aria-describedby', `${id}-error`);
  return h('div', { class: 'field', dataset: { field: id } },
    h('label', { for: id }, t(labelKey)),
    control,
    hint,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }));
}

function input(id, attrs) {
  return h('input', { id, name: id.replace(/^f-/, ''), ...attrs });
}

function select(id, options, value) {
  const el = h('select', { id, name: id.replace(/^f-/, '') },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
  return el;
}

function formatKm(km) {
  if (km === null || km === undefined) return '—';
  return `${formatNumber(km, km < 10 ? 2 : 1)} km`;
}

export function renderSearch(main, ctx, query) {
  const state = stateFromQuery(query);
  const codes = ctx.codes;
  const disposers = [];

  const activityList = h('datalist', { id: 'dl-activity' },
    (codes?.lists?.activity?.codes || []).map(([code, label]) => h('option', { value: `${code} — ${label}` })));
  const offerTypeList = h('datalist', { id: 'dl-offertype' },
    (codes?.lists?.offerType?.codes || []).map(([code, label]) => h('option', { value: `${code} — ${label}` })));
  const communeList = h('datalist', { id: 'dl-commune' });

  const text = input('f-text', { type: 'search', value: state.text || '', autocomplete: 'off', placeholder: t('search.textPlaceholder') });
  const textMode = select('f-textMode', [
    ['content', t('search.textMode.content')],
    ['location', t('search.textMode.location')],
    ['name', t('search.textMode.name')],
  ], state.textMode);
  const activity = input('f-activity', { type: 'text', list: 'dl-activity', value: state.activity || '', autocomplete: 'off', placeholder: t('search.pickerPlaceholder') });
  const offerType = input('f-offerType', { type: 'text', list: 'dl-offertype', value: state.offerType || '', autocomplete: 'off', placeholder: t('search.pickerPlaceholder') });

  const placeRadios = ['none', 'commune', 'point'].map((value) => h('label', { class: 'radio' },
    h('input', { type: 'radio', name: 'place', id: `place-${value}`, value, checked: state.place === value }),
    ' ', t(`search.place.${value}`)));
  const commune = input('f-commune', { type: 'text', list: 'dl-commune', value: state.commune || '', autocomplete: 'off', placeholder: t('search.communePlaceholder') });
  const lat = input('f-lat', { type: 'text', inputmode: 'decimal', value: state.lat || '', autocomplete: 'off' });
  const lon = input('f-lon', { type: 'text', inputmode: 'decimal', value: state.lon || '', autocomplete: 'off' });
  const radius = input('f-radius', { type: 'number', min: '0.1', step: 'any', value: state.radius || '' });
  const communeField = field('f-commune', 'search.commune', commune, 'search.communeHint');
  const pointFields = h('div', { class: 'field-row' }, field('f-lat', 'search.lat', lat), field('f-lon', 'search.lon', lon));
  const radiusField = field('f-radius', 'search.radius', radius);

  // Departments sharing a postal prefix (Corsica's 2A and 2B: 20) are one choice.
  const byPrefix = new Map();
  for (const d of ctx.departments || []) {
    const seen = byPrefix.get(d.postalPrefix);
    byPrefix.set(d.postalPrefix, seen ? { codes: [...seen.codes, d.code], names: [...seen.names, d.name] } : { codes: [d.code], names: [d.name] });
  }
  const department = select('f-department', [['', t('search.anyDepartment')],
    ...[...byPrefix].map(([prefix, d]) => [prefix, `${d.codes.join(', ')} — ${d.names.join(', ')}`])], state.department || '');
  const beds = input('f-beds', { type: 'number', min: '1', step: '1', value: state.beds || '' });
  const priceType = select('f-priceType', [['', t('search.anyPriceType')],
    ...(codes?.lists?.priceType?.codes || []).map(([code, label]) => [code, `${code} — ${label}`])], state.priceType || '');
  const price = input('f-price', { type: 'number', min: '0', step: 'any', value: state.price || '' });
  const count = select('f-count', ['20', '50', '100', '200'].map((n) => [n, n]), state.count || '50');

  const submit = h('button', { type: 'submit', id: 'search-submit', class: 'primary' }, t('search.submit'));
  const reset = h('button', { type: 'button', id: 'search-reset', onclick: () => { window.location.hash = '#/search'; } }, t('search.reset'));

  const placeFieldset = h('fieldset', { class: 'place' },
    h('legend', {}, t('search.place')),
    h('div', { class: 'radios' }, placeRadios),
    communeField, pointFields, radiusField,
    h('p', { class: 'hint' }, t('search.pickHint')));

  const form = h('form', { id: 'search-form', class: 'search-form', novalidate: true, 'aria-labelledby': 'search-title' },
    field('f-text', 'search.text', text, 'search.textHint'),
    field('f-textMode', 'search.textMode', textMode),
    field('f-activity', 'search.activity', activity, 'search.activityHint'),
    field('f-offerType', 'search.offerType', offerType),
    placeFieldset,
    field('f-department', 'search.department', department, 'search.departmentHint'),
    h('fieldset', { class: 'capacity' },
      h('legend', {}, t('search.capacity')),
      field('f-beds', 'search.beds', beds, 'search.bedsHint')),
    h('fieldset', { class: 'tariff' },
      h('legend', {}, t('search.tariff')),
      field('f-priceType', 'search.priceType', priceType),
      field('f-price', 'search.price', price, 'search.priceHint')),
    field('f-count', 'search.count', count),
    h('div', { class: 'actions' }, submit, reset),
    activityList, offerTypeList, communeList);

  const requestUrl = h('code', { id: 'request-url', class: 'request-url' }, '—');
  const copyUrl = h('button', { type: 'button', id: 'copy-url', disabled: true }, t('request.copyUrl'));
  const copyCurl = h('button', { type: 'button', id: 'copy-curl', disabled: true }, t('request.copyCurl'));
  const openJson = h('a', { id: 'open-json', class: 'button-link', href: '#', target: '_blank', rel: 'noopener', hidden: true }, t('request.open'));
  const requestPanel = h('section', { class: 'request', 'aria-labelledby': 'request-title' },
    h('h2', { id: 'request-title' }, t('request.title')),
    requestUrl,
    h('div', { class: 'actions' }, copyUrl, copyCurl, openJson));

  const summary = h('p', { id: 'result-summary', class: 'summary', role: 'status' }, t('results.idle'));
  const warnings = h('div', { id: 'result-warnings' });
  const list = h('ol', { id: 'results', class: 'results', dataset: { state: 'idle' }, 'aria-labelledby': 'results-title' });
  const more = h('button', { type: 'button', id: 'results-more', hidden: true }, t('results.more'));
  const mapBox = h('div', { class: 'map-box' });

  clear(main).append(
    h('div', { class: 'search-page' },
      h('aside', { class: 'search-side' },
        h('h1', { id: 'search-title', tabindex: '-1' }, t('search.title')),
        form,
        requestPanel),
      h('section', { class: 'search-results', 'aria-labelledby': 'results-title' },
        h('h2', { id: 'results-title' }, t('results.title')),
        summary, warnings, list, more),
      h('section', { class: 'search-map', 'aria-labelledby': 'map-title' },
        h('h2', { id: 'map-title', class: 'visually-hidden' }, t('map.title')),
        mapBox)));

  const map = new MapView(mapBox, {
    id: 'results-map',
    tileUrl: ctx.config?.tileUrl,
    label: t('map.label'),
    onPick: (point) => {
      lat.value = point.lat.toFixed(5);
      lon.value = point.lon.toFixed(5);
      document.getElementById('place-point').checked = true;
      syncPlace();
      announce(t('search.pointPicked', { lat: lat.value, lon: lon.value }));
    },
    onSelect: (offerId) => selectResult(offerId, true),
  });
  disposers.push(() => map.destroy());

  function syncPlace() {
    const place = form.querySelector('input[name=place]:checked')?.value || 'none';
    communeField.hidden = place !== 'commune';
    pointFields.hidden = place !== 'point';
    radiusField.hidden = place === 'none';
  }
  for (const radio of form.querySelectorAll('input[name=place]')) radio.addEventListener('change', syncPlace);
  syncPlace();

  // Commune suggestions from the embedded COG table.
  let suggestTimer = null;
  let suggestSeq = 0;
  commune.addEventListener('input', () => {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(async () => {
      const q = commune.value.trim();
      if (q.length < 2 || /—/.test(q)) return;
      const seq = ++suggestSeq;
      try {
        const { body } = await api(`data/communes.json?q=${encodeURIComponent(q)}&limit=12`);
        if (seq !== suggestSeq) return;
        clear(communeList).append(...(body?.communes || []).map((c) =>
          h('option', { value: `${c.cog} — ${c.name} (${c.department})` })));
      } catch { /* suggestions are a convenience */ }
    }, 180);
  });

  function readForm() {
    const data = new FormData(form);
    const out = {};
    for (const key of FIELDS) out[key] = data.get(key) ?? '';
    return out;
  }

  function showErrors(errors) {
    for (const el of form.querySelectorAll('.field-error')) { el.hidden = true; el.textContent = ''; }
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const error of errors) {
      const control = document.getElementById(`f-${error.field}`);
      const message = document.getElementById(`f-${error.field}-error`);
      if (control) control.setAttribute('aria-invalid', 'true');
      if (message) { message.hidden = false; message.textContent = t(error.key); }
    }
    if (errors.length) document.getElementById(`f-${errors[0].field}`)?.focus();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = readForm();
    const { errors } = buildSearch(values, codes);
    showErrors(errors);
    if (errors.length) return;
    // On a phone the results are below a long form: show them once they arrive.
    ctx.scrollToResults = window.matchMedia('(max-width: 700px)').matches;
    const next = `#/search?${queryFromState(values)}`;
    if (window.location.hash === next) run(values);
    else window.location.hash = next;
  });

  let results = [];
  let view = null;

  function selectResult(offerId, fromMap) {
    map.select(offerId);
    for (const li of list.querySelectorAll('li')) li.classList.toggle('selected', li.dataset.id === offerId);
    if (fromMap) {
      const li = list.querySelector(`li[data-id="${CSS.escape(offerId)}"]`);
      li?.scrollIntoView({ block: 'nearest' });
      li?.querySelector('a')?.focus({ preventScroll: true });
    }
  }

  function resultItem(offer, rank) {
    const establishment = view.establishment(offer);
    const locations = view.locations(offer);
    const distance = view.offerDistanceKm(offer);
    const free = offerFreeBeds(view, offer);
    const commune = locations.map(communeOf).find(Boolean);
    const name = offer.name || offer.id;
    return h('li', { dataset: { id: offer.id, rank } },
      h('span', { class: 'rank', 'aria-hidden': 'true' }, String(rank)),
      h('div', { class: 'result-body' },
        h('a', { href: `#/offer/${encodeURIComponent(offer.id)}`, class: 'result-name' }, name),
        h('p', { class: 'result-establishment', dataset: { field: 'establishment' } }, establishment?.name || '—'),
        commune ? h('p', { class: 'result-commune' }, `${commune.name} (${commune.code})`) : null,
        h('dl', { class: 'figures' },
          h('div', {}, h('dt', {}, t('results.distance')), h('dd', { dataset: { field: 'distance', km: distance ?? '' } }, formatKm(distance))),
          h('div', {}, h('dt', {}, t('results.freeBeds')), h('dd', { dataset: { field: 'beds' } }, free === null ? '—' : formatNumber(free, 0))))),
    );
  }

  function addPage(bundle) {
    view = new BundleView(bundle);
    const offers = view.matches('HealthcareService');
    const start = results.length;
    const markers = [];
    offers.forEach((offer, i) => {
      const rank = start + i + 1;
      results.push({ offer, rank, view });
      list.append(resultItem(offer, rank));
      for (const location of view.locations(offer)) {
        const p = position(location);
        if (p) markers.push({ offerId: offer.id, locationId: location.id, lat: p.lat, lon: p.lon, rank, title: offer.name || offer.id });
      }
    });
    return { offers, markers };
  }

  let allMarkers = [];
  let nextLink = null;

  async function centreOf(centre) {
    if (!centre) return null;
    if (centre.lat !== undefined) return centre;
    try {
      const { body } = await api(`data/communes.json?q=${encodeURIComponent(centre.cog)}&limit=1`);
      const c = body?.communes?.[0];
      return c && c.cog === centre.cog ? { lat: c.lat, lon: c.lon, radiusKm: centre.radiusKm } : null;
    } catch {
      return null;
    }
  }

  async function run(values) {
    const { params, errors, centre } = buildSearch(values, codes);
    showErrors(errors);
    if (errors.length) return;
    const path = `${ctx.config.fhirBase}/HealthcareService?${queryString(params)}`;
    const absolute = new URL(path, window.location.href).href;
    requestUrl.textContent = absolute;
    copyUrl.disabled = false;
    copyCurl.disabled = false;
    openJson.hidden = false;
    openJson.href = absolute;
    copyUrl.onclick = async () => announce(t(await copyText(absolute) ? 'request.copied' : 'request.copyFailed'));
    copyCurl.onclick = async () => announce(t(await copyText(curlCommand(absolute, getToken())) ? 'request.copied' : 'request.copyFailed'));

    results = [];
    allMarkers = [];
    clear(list);
    clear(warnings);
    list.dataset.state = 'loading';
    list.setAttribute('aria-busy', 'true');
    summary.textContent = t('results.loading');
    more.hidden = true;
    const [answer, circle] = await Promise.all([
      api(path).then((r) => ({ ok: r }), (error) => ({ error })),
      centreOf(centre),
    ]);
    map.setCircle(circle);
    if (answer.error) {
      list.dataset.state = 'error';
      list.removeAttribute('aria-busy');
      summary.textContent = t('results.error');
      warnings.append(h('pre', { class: 'alert', role: 'alert' }, answer.error.message));
      map.setMarkers([]);
      map.fitContent();
      return;
    }
    const bundle = answer.ok.body;
    const { markers } = addPage(bundle);
    allMarkers = markers;
    for (const outcome of view.outcomes()) warnings.append(h('p', { class: 'warning' }, outcome));
    nextLink = view.link('next');
    more.hidden = !nextLink;
    map.setMarkers(allMarkers);
    map.fitContent();
    list.dataset.state = 'done';
    list.removeAttribute('aria-busy');
    const text = t('results.summary', { shown: formatNumber(results.length, 0), total: formatNumber(view.total ?? results.length, 0) });
    summary.textContent = text;
    announce(text);
    if (ctx.scrollToResults) {
      ctx.scrollToResults = false;
      mapBox.closest('.search-map')?.scrollIntoView({ block: 'start' });
    }
  }

  more.addEventListener('click', async () => {
    if (!nextLink) return;
    more.disabled = true;
    list.dataset.state = 'loading';
    const firstNew = results.length + 1;
    try {
      const { body } = await api(samePath(nextLink));
      const { markers } = addPage(body);
      allMarkers = allMarkers.concat(markers);
      map.setMarkers(allMarkers);
      nextLink = view.link('next');
      more.hidden = !nextLink;
      summary.textContent = t('results.summary', { shown: formatNumber(results.length, 0), total: formatNumber(view.total ?? results.length, 0) });
      list.querySelector(`li[data-rank="${firstNew}"] a`)?.focus();
    } catch (error) {
      warnings.append(h('pre', { class: 'alert', role: 'alert' }, error.message));
    } finally {
      more.disabled = false;
      list.dataset.state = 'done';
    }
  });

  list.addEventListener('focusin', (event) => {
    const li = event.target.closest('li');
    if (li) selectResult(li.dataset.id, false);
  });
  list.addEventListener('mouseover', (event) => {
    const li = event.target.closest('li');
    if (li) map.select(li.dataset.id);
  });

  if (query.toString() !== '') {
    run(readForm());
  }

  return () => { for (const dispose of disposers) dispose(); };
}
