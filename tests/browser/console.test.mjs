// Drives the web console of a running ror-search in Debian's headless Chromium and checks what
// it shows against the API's own answers. Started by tests/integration/console.rs, or by hand:
//
//   ROR_CONSOLE_BASE_URL=http://127.0.0.1:8080 node tests/browser/console.test.mjs
//
// The server must hold the demo corpus (`serve --demo`). Screenshots go to
// ROR_BROWSER_ARTIFACTS (default target/browser-artifacts).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.ROR_CONSOLE_BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const ARTIFACTS = path.resolve(process.env.ROR_BROWSER_ARTIFACTS || path.join(here, '../../target/browser-artifacts'));
const CHROMIUM = process.env.ROR_CHROMIUM || '/usr/bin/chromium';
// Nantes: the demo corpus has cardiology offers around it.
const COMMUNE = process.env.ROR_CONSOLE_COMMUNE || '44109';
const RADIUS_KM = '30';
const TIMEOUT = 60_000;
const REINDEX_TIMEOUT = 180_000;

// Without the background-networking flags Chromium stalls on a closed network.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const VIEWPORTS = [
  { name: 'desktop', options: { viewport: { width: 1280, height: 800 }, locale: 'fr-FR' } },
  { name: 'phone', options: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-GB' } },
];

let checks = 0;
function check(condition, message) {
  assert.ok(condition, message);
  checks += 1;
}
function checkEqual(actual, expected, message) {
  assert.deepEqual(actual, expected, message);
  checks += 1;
}

async function api(pathOrUrl, options = {}) {
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${BASE}${pathOrUrl}`;
  const response = await fetch(url, { ...options, headers: { Accept: 'application/fhir+json', ...(options.headers || {}) } });
  const text = await response.text();
  let body = null;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: response.status, headers: response.headers, body };
}

// What the list and the map must show, computed here from the API's Bundle.
function expectedFromBundle(bundle) {
  const byRef = new Map();
  for (const entry of bundle.entry || []) {
    const r = entry.resource;
    byRef.set(`${r.resourceType}/${r.id}`, r);
  }
  const offers = (bundle.entry || []).filter((e) => e.search?.mode === 'match').map((e) => e.resource);
  const markers = [];
  const beds = [];
  offers.forEach((offer, index) => {
    let free = null;
    for (const ref of offer.location || []) {
      const location = byRef.get(ref.reference);
      if (!location) continue;
      const p = location.position;
      if (p && typeof p.latitude === 'number') {
        markers.push({ offer: offer.id, location: location.id, rank: index + 1, lat: p.latitude, lon: p.longitude });
      }
      const records = (location.extension || []).filter((e) => e.url.endsWith('/ror-location-supported-capacity'));
      if (records.length) free = free ?? 0;
      for (const record of records) {
        const code = (url) => record.extension.find((x) => x.url === url)?.valueCodeableConcept?.coding?.[0]?.code;
        const temporality = code('temporalityCapacity');
        if (code('capacityType') === '01' && code('capacityStatus') === '02' && (temporality === '01' || temporality === undefined)) {
          free += record.extension.find((x) => x.url === 'nbCapacity')?.valueInteger || 0;
        }
      }
    }
    beds.push(free === null ? '—' : String(free));
  });
  return { ids: offers.map((o) => o.id), offers, markers, beds, byRef };
}

function sortMarkers(list) {
  return [...list].sort((a, b) => `${a.offer}|${a.location}`.localeCompare(`${b.offer}|${b.location}`));
}

async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  console.log(`  screenshot ${path.relative(process.cwd(), file)}`);
}

async function noHorizontalOverflow(page, where) {
  const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  check(scroll <= inner + 1, `${where}: page is ${scroll}px wide in a ${inner}px viewport`);
}

/** The request the page shows, made from here: the list and the markers must be its answer. */
async function compareWithApi(page, what) {
  const requestUrl = (await page.textContent('#request-url')).trim();
  check(requestUrl.startsWith(`${BASE}/fhir/HealthcareService?`), `${what}: request URL on this server: ${requestUrl}`);
  const answer = await api(requestUrl);
  checkEqual(answer.status, 200, `${what}: the console request is a valid FHIR search`);
  const expected = expectedFromBundle(answer.body);
  const listIds = await page.$$eval('#results > li', (items) => items.map((li) => li.dataset.id));
  checkEqual(listIds, expected.ids, `${what}: list = API matches, same order`);
  const names = await page.$$eval('#results > li .result-name', (links) => links.map((a) => a.textContent));
  checkEqual(names, expected.offers.map((o) => o.name || o.id), `${what}: list names = offer names`);
  const beds = await page.$$eval('#results > li [data-field="beds"]', (cells) => cells.map((c) => c.textContent.replace(/\s/g, '')));
  checkEqual(beds, expected.beds.map((b) => b.replace(/\s/g, '')), `${what}: free beds = current available beds of the included locations`);
  const markers = await page.$$eval('#results-map .marker', (nodes) => nodes.map((n) => ({
    offer: n.dataset.offer, location: n.dataset.location, rank: Number(n.dataset.rank), lat: Number(n.dataset.lat), lon: Number(n.dataset.lon),
  })));
  checkEqual(sortMarkers(markers), sortMarkers(expected.markers), `${what}: map markers = positions of the matches' locations, ranked as the list`);
  return { requestUrl, answer, expected };
}

async function submitSearch(page) {
  await page.click('#search-submit');
  await page.waitForSelector('#results[data-state="done"]', { timeout: TIMEOUT });
}

/** The other filters of the form, each checked against the API (desktop only). */
async function filterScenario(page, offer) {
  await page.click('nav.main-nav a[data-route="search"]');
  await page.waitForSelector('#search-form');
  // Activity picker (JDV_J17) + text + commune: the offer opened in the detail view is found again.
  const activity = offer.specialty?.[0]?.coding?.[0]?.code;
  await page.fill('#f-text', 'cardio');
  await page.check('#place-commune');
  await page.fill('#f-commune', COMMUNE);
  await page.fill('#f-radius', RADIUS_KM);
  await page.fill('#f-activity', activity);
  await submitSearch(page);
  let { requestUrl, expected } = await compareWithApi(page, `activity ${activity}`);
  check(new URL(requestUrl).searchParams.get('specialty').endsWith(`TRE-R211-ActiviteOperationnelle|${activity}`), 'activity sent as specialty with the TRE_R211 system');
  check(expected.ids.includes(offer.id), `activity ${activity}: ${offer.id} found again`);

  // Free beds: capacity parameters on one capacity line.
  await page.fill('#f-activity', '');
  await page.fill('#f-beds', '1');
  await submitSearch(page);
  ({ requestUrl, expected } = await compareWithApi(page, 'free beds ≥ 1'));
  const bedsQuery = new URL(requestUrl).searchParams;
  checkEqual(bedsQuery.get('location.nb-capacity'), 'ge1', 'beds sent as location.nb-capacity=ge1');
  checkEqual(bedsQuery.get('_matching'), 'record', 'capacity criteria on one capacity line');
  check(expected.beds.every((b) => Number(b) >= 1), `every result has free beds: ${expected.beds}`);
  await screenshot(page, 'desktop-search-beds');

  // Tariff ceiling anywhere in France, with a department.
  await page.click('#search-reset');
  await page.waitForSelector('#results[data-state="idle"]', { state: 'attached' });
  await page.selectOption('#f-priceType', '06');
  await page.fill('#f-price', '30');
  await page.selectOption('#f-department', '29');
  await submitSearch(page);
  ({ requestUrl, expected } = await compareWithApi(page, 'tariff 06 ≤ 30 € in 29'));
  const priceQuery = new URL(requestUrl).searchParams;
  checkEqual(priceQuery.get('organization.price-amount-value:above'), 'le30', 'ceiling sent as price-amount-value');
  checkEqual(priceQuery.get('location.address-postalcode'), '29', 'department sent as a postal code prefix');
  check(expected.ids.length > 0, 'the demo corpus has home-help tariffs under 30 € in Finistère');
  check(await page.$('#results-map .map-radius') === null, 'no radius circle without proximity');

  // Paging: the next page follows the Bundle's `next` link and appends to the list and the map.
  await page.click('#search-reset');
  await page.waitForSelector('#results[data-state="idle"]', { state: 'attached' });
  await page.fill('#f-text', 'cardio');
  await page.selectOption('#f-count', '20');
  await submitSearch(page);
  const first = await compareWithApi(page, 'cardio, page 1');
  const next = (first.answer.body.link || []).find((l) => l.relation === 'next')?.url;
  check(next, 'more than one page of "cardio" offers');
  await page.click('#results-more');
  await page.waitForFunction(() => document.querySelectorAll('#results > li').length > 20);
  await page.waitForSelector('#results[data-state="done"]', { state: 'attached' });
  const second = expectedFromBundle((await api(next)).body);
  const listIds = await page.$$eval('#results > li', (items) => items.map((li) => li.dataset.id));
  checkEqual(listIds, [...first.expected.ids, ...second.ids], 'page 2 appended in the API order');
  const markerCount = await page.$$eval('#results-map .marker', (nodes) => nodes.length);
  checkEqual(markerCount, first.expected.markers.length + second.markers.length, 'page 2 markers added');
  checkEqual(await page.evaluate(() => document.activeElement?.closest('li')?.dataset.rank), '21', 'focus on the first new result');

  // A bad value is caught in the form, not sent.
  await page.fill('#f-price', '-3');
  await page.click('#search-submit');
  checkEqual(await page.getAttribute('#f-price', 'aria-invalid'), 'true', 'invalid amount flagged');
  check(await page.evaluate(() => document.activeElement?.id) === 'f-price', 'focus moved to the invalid field');
}

async function searchScenario(page, viewport, useKeyboard) {
  await page.goto(`${BASE}/console`, { waitUntil: 'domcontentloaded' });
  check(page.url().startsWith(`${BASE}/console/`), `redirected to the console page, got ${page.url()}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: TIMEOUT });

  // Both languages: switch and switch back, the form keeps working.
  const startLang = await page.getAttribute('html', 'lang');
  const frTitle = 'Rechercher une offre';
  const enTitle = 'Find an offer';
  checkEqual(await page.textContent('#search-title'), startLang === 'fr' ? frTitle : enTitle, 'title in the start language');
  await page.click('#lang-toggle');
  checkEqual(await page.textContent('#search-title'), startLang === 'fr' ? enTitle : frTitle, 'title after the language switch');
  checkEqual(await page.getAttribute('html', 'lang'), startLang === 'fr' ? 'en' : 'fr', 'html lang follows the toggle');
  await page.click('#lang-toggle');
  checkEqual(await page.getAttribute('html', 'lang'), startLang, 'back to the start language');

  // Every form control has a label.
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#search-form input, #search-form select')]
    .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map((el) => el.id || el.name));
  checkEqual(unlabelled, [], 'every search control is labelled');

  // "cardio" near a commune.
  await page.fill('#f-text', 'cardio');
  await page.check('#place-commune');
  await page.fill('#f-commune', COMMUNE);
  await page.fill('#f-radius', RADIUS_KM);
  if (useKeyboard) {
    await page.focus('#f-text');
    await page.keyboard.press('Enter');
  } else {
    await page.tap('#search-submit');
  }
  await page.waitForSelector('#results[data-state="done"]', { timeout: TIMEOUT });
  if (viewport === 'phone') {
    const mapTop = await page.evaluate(() => document.querySelector('.search-map').getBoundingClientRect().top);
    check(Math.abs(mapTop) < 5, `phone: the page scrolls to the map and results after a search (map top at ${mapTop}px)`);
  }

  const { requestUrl, answer, expected } = await compareWithApi(page, 'cardio near a commune');
  const query = new URL(requestUrl).searchParams;
  checkEqual(query.get('_content'), 'cardio', 'free text sent as _content');
  checkEqual(query.get('location.near-insee-code'), `${COMMUNE}|${RADIUS_KM}|km`, 'commune sent as location.near-insee-code');
  check(query.getAll('_include').includes('HealthcareService:location'), 'locations included for positions');
  check(expected.ids.length > 0, `the demo corpus has "cardio" offers within ${RADIUS_KM} km of ${COMMUNE}`);
  const distances = await page.$$eval('#results > li [data-field="distance"]', (cells) => cells.map((c) => Number(c.dataset.km)));
  check(distances.every((d) => Number.isFinite(d) && d <= Number(RADIUS_KM) + 1e-6), `every distance within the radius: ${distances}`);
  check(distances.every((d, i) => i === 0 || d >= distances[i - 1] - 1e-9), `nearest first: ${distances}`);
  const summary = await page.textContent('#result-summary');
  check(summary.includes(String(answer.body.total)), `summary names the total ${answer.body.total}: ${summary}`);

  const circle = await page.$('#results-map .map-radius');
  check(circle !== null, 'radius circle drawn');
  // After the fit every marker is inside the map.
  const inside = await page.evaluate(() => {
    const box = document.querySelector('#results-map').getBoundingClientRect();
    return [...document.querySelectorAll('#results-map .marker circle')].every((c) => {
      const r = c.getBoundingClientRect();
      const x = r.left + r.width / 2;
      const y = r.top + r.height / 2;
      return x >= box.left && x <= box.right && y >= box.top && y <= box.bottom;
    });
  });
  check(inside, 'every marker is inside the map after fitting');
  const dots = await page.evaluate(() => {
    const canvas = document.querySelector('#results-map canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
    return painted;
  });
  check(dots > 0, 'the commune dot cloud is drawn without a tile server');

  // Keyboard on the map: + zooms in (markers move apart).
  const before = await page.$$eval('#results-map .marker', (nodes) => nodes.map((n) => n.getAttribute('transform')));
  await page.focus('#results-map .map-overlay');
  await page.keyboard.press('+');
  const after = await page.$$eval('#results-map .marker', (nodes) => nodes.map((n) => n.getAttribute('transform')));
  check(before.length <= 1 || JSON.stringify(before) !== JSON.stringify(after), 'the map zooms from the keyboard');
  await page.keyboard.press('0');

  // Selecting a marker highlights its result.
  const firstMarker = expected.markers[0];
  await page.$eval(`#results-map .marker[data-offer="${firstMarker.offer}"]`, (node) => node.scrollIntoView());
  const box = await (await page.$(`#results-map .marker[data-rank="1"] circle`)).boundingBox();
  if (box) {
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const selected = await page.$$eval('#results > li.selected', (items) => items.map((li) => li.dataset.id));
    checkEqual(selected, [expected.ids[0]], 'clicking marker 1 selects result 1');
  }

  await noHorizontalOverflow(page, `${viewport} search`);
  if (viewport === 'phone') {
    // Below the long form, the page scrolled to the map and results by itself.
    await page.$eval('#results-map', (el) => el.scrollIntoView({ block: 'start' }));
    await screenshot(page, `${viewport}-search`);
    await page.$eval('#results-title', (el) => el.scrollIntoView({ block: 'start' }));
    await screenshot(page, `${viewport}-search-list`);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, `${viewport}-search-form`);
  } else {
    await screenshot(page, `${viewport}-search`);
  }
  return { requestUrl, expected };
}

/** The EG of an offer: the level just under the legal entity of its providedBy/partOf chain. */
function establishmentOf(byRef, offer) {
  const chain = [];
  let org = byRef.get(offer.providedBy?.reference);
  while (org && !chain.includes(org)) {
    chain.push(org);
    org = byRef.get(org.partOf?.reference);
  }
  return chain.length >= 2 ? chain[chain.length - 2] : chain[0];
}

/** The first result with capacity records, for a detail view with something in each table. */
function detailOffer(expected) {
  const index = expected.beds.findIndex((b) => b !== '—');
  return expected.offers[Math.max(index, 0)];
}

async function detailScenario(page, viewport, expected, task, useKeyboard) {
  const offer = detailOffer(expected);
  const link = `#results > li[data-id="${offer.id}"] a`;
  if (useKeyboard) {
    await page.focus(link);
    await page.keyboard.press('Enter');
  } else {
    await page.tap(link);
  }
  await page.waitForSelector('#detail-body[data-state="done"]', { timeout: TIMEOUT });
  checkEqual(page.url(), `${BASE}/console/#/offer/${encodeURIComponent(offer.id)}`, 'detail route');
  checkEqual((await page.textContent('#detail-title')).trim(), offer.name || offer.id, 'detail title = offer name');

  const requestUrl = (await page.textContent('#detail-request-url')).trim();
  const query = new URL(requestUrl).searchParams;
  checkEqual(query.get('_id'), offer.id, 'detail asks for the offer by _id');
  // SPEC UC2 standard include block, plus the anomalies (UC2 S8) of the offer and its linked resources.
  checkEqual(query.getAll('_include').sort(), ['HealthcareService:location', 'HealthcareService:organization', 'PractitionerRole:practitioner'], 'UC2 _include');
  checkEqual(query.getAll('_include:iterate'), ['Organization:partof'], 'UC2 _include:iterate');
  checkEqual(query.getAll('_revinclude'), ['PractitionerRole:service'], 'UC2 _revinclude');
  checkEqual(query.getAll('_revinclude:iterate'), ['Task:focus'], 'anomalies: _revinclude:iterate=Task:focus');

  for (const id of ['sec-offer', 'sec-organizations', 'sec-locations', 'sec-capacities', 'sec-equipment', 'sec-tariffs', 'sec-practitioners', 'sec-anomalies']) {
    check(await page.$(`#${id} h2`) !== null, `detail section ${id}`);
  }
  const answer = await api(requestUrl);
  checkEqual(answer.status, 200, 'detail request answers');
  const detail = expectedFromBundle(answer.body);
  // Organization chain from the API: providedBy then partOf, shown legal entity first.
  const chain = [];
  let org = detail.byRef.get(offer.providedBy?.reference);
  while (org && !chain.includes(org.id)) {
    chain.push(org.id);
    org = detail.byRef.get(org.partOf?.reference);
  }
  const shownChain = await page.$$eval('#organization-chain > li', (items) => items.map((li) => li.dataset.id));
  checkEqual(shownChain, [...chain].reverse(), 'organization chain = providedBy and its partOf ancestors');
  const locationRows = await page.$$eval('#locations-table tbody tr', (rows) => rows.length);
  checkEqual(locationRows, (offer.location || []).length, 'one row per location');
  const capacityRecords = (offer.location || []).map((ref) => detail.byRef.get(ref.reference))
    .flatMap((l) => (l?.extension || []).filter((e) => e.url.endsWith('/ror-location-supported-capacity') || e.url.endsWith('/ror-location-residential-capacity')));
  const capacityRows = await page.$$eval('#capacities-table tbody tr', (rows) => rows.length);
  checkEqual(capacityRows, capacityRecords.length, 'one row per capacity record');
  const anomalyIds = await page.$$eval('#anomalies-table tbody tr td:first-child', (cells) => cells.map((c) => c.textContent));
  check(anomalyIds.includes(task.identifier), `the anomaly reported on the offer is listed: ${anomalyIds}`);
  check(anomalyIds.includes(task.establishmentIdentifier), `the anomaly reported on its establishment is listed: ${anomalyIds}`);
  checkEqual(anomalyIds.length, [...detail.byRef.keys()].filter((k) => k.startsWith('Task/')).length, 'one row per Task of the answer');

  await noHorizontalOverflow(page, `${viewport} detail`);
  await screenshot(page, `${viewport}-detail`);
  await page.screenshot({ path: path.join(ARTIFACTS, `${viewport}-detail-full.png`), fullPage: true });
  await page.$eval('#sec-anomalies', (el) => el.scrollIntoView());
  await screenshot(page, `${viewport}-detail-anomalies`);

  // Back to the same search, restored from the URL.
  await page.click('.back');
  await page.waitForSelector('#results[data-state="done"]', { timeout: TIMEOUT });
  const listIds = await page.$$eval('#results > li', (items) => items.map((li) => li.dataset.id));
  checkEqual(listIds, expected.ids, 'back link restores the search');
}

async function adminScenario(page, viewport) {
  await page.click('nav.main-nav a[data-route="admin"]');
  await page.waitForSelector('#admin-status[data-state="done"]', { timeout: TIMEOUT });
  const status = (await api('/admin/status')).body;
  const storeOffers = status.store.counts.find((c) => c.type === 'HealthcareService').count;
  const shown = await page.$eval('#status-counts tr[data-type="HealthcareService"] td', (td) => td.textContent.replace(/\D/g, ''));
  checkEqual(Number(shown), storeOffers, 'admin page shows the store count of offers');
  check(await page.$('#status-write-lag') !== null, 'write lag shown');
  check(await page.$('#status-generation') !== null, 'snapshot generation shown');

  await page.click('#reindex-start');
  await page.waitForFunction(() => ['succeeded', 'failed', 'error'].includes(document.querySelector('#reindex-status')?.dataset.status),
    null, { timeout: REINDEX_TIMEOUT });
  const state = await page.$eval('#reindex-status', (el) => ({ status: el.dataset.status, task: el.dataset.task, text: el.textContent }));
  checkEqual(state.status, 'succeeded', `reindex finished: ${state.text}`);
  const task = (await api(`/admin/tasks/${encodeURIComponent(state.task)}`)).body;
  checkEqual(task.status, 'succeeded', 'the task resource agrees');
  checkEqual(task.kind, 'reindex', 'task kind');
  const bar = await page.$eval('#reindex-progress', (p) => ({ value: p.value, max: p.max }));
  checkEqual(bar.value, bar.max, 'progress bar full');
  await page.waitForSelector(`#tasks-table tr[data-id="${state.task}"][data-status="succeeded"]`, { timeout: TIMEOUT });
  checks += 1;
  // The status refreshed after the reindex shows the API's current generation.
  const after = (await api('/admin/status')).body;
  await page.waitForFunction((generation) => document.querySelector('#status-generation')?.textContent.replace(/\D/g, '') === String(generation),
    after.index.generation, { timeout: TIMEOUT });
  checks += 1;
  await noHorizontalOverflow(page, `${viewport} admin`);
  await screenshot(page, `${viewport}-admin`);
}

async function reportAnomaly(offer, establishmentFiness) {
  // UC8: an anomaly on the offer, and one on its establishment known by FINESS (a logical
  // reference, as in the IG's example), so the detail view has both kinds to show.
  const establishmentIdentifier = `console-test-eg-${Date.now()}`;
  const onEstablishment = {
    resourceType: 'Task',
    identifier: [{ value: establishmentIdentifier }],
    status: 'in-progress',
    intent: 'order',
    businessStatus: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R352-StatutMetierAnomalie/FHIR/TRE-R352-StatutMetierAnomalie', code: '10', display: 'À vérifier' }] },
    code: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R350-ThematiqueAnomalie/FHIR/TRE-R350-ThematiqueAnomalie', code: '01', display: 'Complétude' }] },
    description: 'Test anomaly on the establishment',
    focus: { type: 'Organization', identifier: { value: establishmentFiness } },
    authoredOn: new Date().toISOString(),
  };
  const createdEg = await api('/fhir/Task', { method: 'POST', headers: { 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(onEstablishment) });
  checkEqual(createdEg.status, 201, `anomaly on the establishment created: ${JSON.stringify(createdEg.body).slice(0, 300)}`);
  const identifier = `console-test-${Date.now()}`;
  const task = {
    resourceType: 'Task',
    identifier: [{ value: identifier }],
    status: 'in-progress',
    intent: 'order',
    businessStatus: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R352-StatutMetierAnomalie/FHIR/TRE-R352-StatutMetierAnomalie', code: '02', display: 'À traiter' }] },
    code: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R350-ThematiqueAnomalie/FHIR/TRE-R350-ThematiqueAnomalie', code: '06', display: 'Exactitude' }] },
    description: 'Test anomaly from the console browser test',
    focus: { reference: `HealthcareService/${offer.id}` },
    authoredOn: new Date().toISOString(),
    lastModified: new Date().toISOString(),
    reasonCode: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R349-ActionAnomalie/FHIR/TRE-R349-ActionAnomalie', code: 'COR', display: 'Correction' }] },
  };
  const created = await api('/fhir/Task', { method: 'POST', headers: { 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(task) });
  checkEqual(created.status, 201, `anomaly created: ${JSON.stringify(created.body).slice(0, 300)}`);
  return { identifier, establishmentIdentifier };
}

async function run() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const origin = new URL(BASE).origin;
  let task = null;
  for (const [index, { name, options }] of VIEWPORTS.entries()) {
    console.log(`${name} ${options.viewport.width}×${options.viewport.height}`);
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ror-console-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: ARGS, ...options,
    });
    const problems = [];
    try {
      const page = context.pages()[0] || await context.newPage();
      page.setDefaultTimeout(TIMEOUT);
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => { if (message.type() === 'error') problems.push(`console error: ${message.text()}`); });
      // Nothing may come from another origin (no CDN, no tile server configured).
      page.on('request', (request) => {
        const url = request.url();
        if (!url.startsWith('data:') && new URL(url).origin !== origin) problems.push(`request to another origin: ${url}`);
      });
      const keyboard = index === 0;
      const { expected } = await searchScenario(page, name, keyboard);
      if (!task) {
        const offer = detailOffer(expected);
        const establishment = establishmentOf(expected.byRef, offer);
        const finess = (establishment?.identifier || []).find((i) => i.system === 'https://finess.esante.gouv.fr')?.value
          || establishment?.identifier?.[0]?.value;
        task = await reportAnomaly(offer, finess);
      }
      await detailScenario(page, name, expected, task, keyboard);
      await adminScenario(page, name);
      if (name === 'desktop') await filterScenario(page, detailOffer(expected));
      checkEqual(problems, [], `${name}: no page error, console error or foreign request`);
    } catch (error) {
      const page = context.pages()[0];
      if (page) await page.screenshot({ path: path.join(ARTIFACTS, `${name}-failure.png`), fullPage: true }).catch(() => {});
      if (problems.length) console.error(problems.join('\n'));
      throw error;
    } finally {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    }
  }
}

run().then(() => {
  console.log(`console browser test: ${checks} checks passed at ${VIEWPORTS.length} viewports; screenshots in ${ARTIFACTS}`);
}, (error) => {
  console.error(`console browser test FAILED after ${checks} checks: ${error.stack || error}`);
  process.exit(1);
});
