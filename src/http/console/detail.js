// Detail of one offer through SPEC UC2 S3/S8: the offer with the standard include block
// ({INC}: organization chain, locations, practitioners) and its anomalies (_revinclude=Task:focus).

import { h, clear, announce, copyText } from './dom.js';
import { t, formatNumber, formatDate } from './i18n.js';
import {
  api, queryString, curlCommand, getToken, BundleView, UC2_INCLUDES, EXT, extensions, sub, capacityRecord,
  freeBeds, position, communeOf, identifierText, conceptText, addressText, displayOf, coding,
} from './fhir.js';
import { MapView } from './map.js';

// `stack`: on a phone each row becomes a block of labelled cells (data-label) instead of a
// table wider than the screen.
function table(id, headers, rows, emptyKey) {
  if (rows.length === 0) return h('p', { class: 'empty', id }, t(emptyKey));
  return h('div', { class: 'table-wrap' },
    h('table', { id, class: 'stack' },
      h('thead', {}, h('tr', {}, headers.map((head) => h('th', { scope: 'col' }, head)))),
      h('tbody', {}, rows.map((cells) => h('tr', {},
        cells.map((cell, i) => h('td', { 'data-label': headers[i] }, cell ?? '—')))))));
}

function section(id, titleKey, ...content) {
  return h('section', { id, class: 'detail-section', 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, t(titleKey)), ...content);
}

function definitionList(pairs) {
  return h('dl', { class: 'facts' },
    pairs.filter(([, value]) => value !== null && value !== undefined && value !== '')
      .map(([key, value]) => h('div', {}, h('dt', {}, t(key)), h('dd', {}, value))));
}

/** Level names of the organization chain, from the legal entity down. */
function levelOf(index, length) {
  if (index === length - 1) return length === 1 ? 'detail.level.eg' : 'detail.level.ej';
  if (index === length - 2) return 'detail.level.eg';
  return 'detail.level.oi';
}

/** The resource a Task is about: by literal reference, or by type and identifier (UC8 example). */
function focusOf(view, task) {
  const byReference = view.resolve(task.focus);
  if (byReference) return byReference;
  const value = task.focus?.identifier?.value;
  if (!value) return null;
  const type = task.focus.type;
  for (const entry of view.entries) {
    const r = entry.resource;
    if ((!type || r?.resourceType === type) && (r?.identifier || []).some((i) => i.value === value)) return r;
  }
  return null;
}

function money(value) {
  const amount = value?.valueMoney;
  if (!amount || typeof amount.value !== 'number') return '—';
  return `${formatNumber(amount.value, 2)} ${amount.currency || ''}`.trim();
}

export function renderDetail(main, ctx, id) {
  const disposers = [];
  // UC2 S8 asks `_revinclude=Task:focus` for the offer's own anomalies; `:iterate` also brings
  // those reported on its locations and organizations, which a reader of the offer needs too.
  const params = [['_id', id], ...UC2_INCLUDES, ['_revinclude:iterate', 'Task:focus']];
  const path = `${ctx.config.fhirBase}/HealthcareService?${queryString(params)}`;
  const absolute = new URL(path, window.location.href).href;
  const back = h('a', { href: ctx.lastSearch || '#/search', class: 'back' }, t('detail.back'));
  const heading = h('h1', { id: 'detail-title', tabindex: '-1' }, t('detail.loading'));
  const status = h('p', { id: 'detail-status', role: 'status' });
  const body = h('div', { id: 'detail-body', class: 'detail-body', dataset: { state: 'loading' }, 'aria-busy': 'true' });
  const copy = h('button', { type: 'button', id: 'detail-copy-curl' }, t('request.copyCurl'));
  copy.addEventListener('click', async () => announce(t(await copyText(curlCommand(absolute, getToken())) ? 'request.copied' : 'request.copyFailed')));
  clear(main).append(h('div', { class: 'detail-page' },
    back, heading, status,
    h('section', { class: 'request', 'aria-labelledby': 'detail-request-title' },
      h('h2', { id: 'detail-request-title' }, t('request.title')),
      h('code', { id: 'detail-request-url', class: 'request-url' }, absolute),
      h('div', { class: 'actions' }, copy,
        h('a', { class: 'button-link', href: absolute, target: '_blank', rel: 'noopener' }, t('request.open')))),
    body));

  (async () => {
    let bundle;
    try {
      bundle = (await api(path)).body;
    } catch (error) {
      heading.textContent = t('detail.error');
      body.dataset.state = 'error';
      body.removeAttribute('aria-busy');
      body.append(h('pre', { class: 'alert', role: 'alert' }, error.message));
      return;
    }
    if (!main.isConnected) return;
    const view = new BundleView(bundle);
    const offer = view.matches('HealthcareService')[0];
    body.removeAttribute('aria-busy');
    if (!offer) {
      heading.textContent = t('detail.notFound', { id });
      body.dataset.state = 'error';
      return;
    }
    heading.textContent = offer.name || offer.id;
    document.title = `${offer.name || offer.id} — ROR`;
    const chain = view.organizationChain(offer);
    const locations = view.locations(offer);

    // Offer
    const offerSection = section('sec-offer', 'detail.offer', definitionList([
      ['detail.identifier', identifierText(offer)],
      ['detail.technicalId', offer.id],
      ['detail.field', conceptText(offer.type)],
      ['detail.offerType', conceptText(offer.category)],
      ['detail.activity', conceptText(offer.specialty)],
      ['detail.characteristics', conceptText(offer.characteristic)],
      ['detail.region', (offer.meta?.tag || []).map((tag) => tag.display || tag.code).join(', ')],
      ['detail.lastUpdated', formatDate(offer.meta?.lastUpdated)],
      ['detail.active', offer.active === undefined ? '' : t(offer.active ? 'yes' : 'no')],
    ]));

    // Organization chain, legal entity first.
    const top = [...chain].reverse();
    const orgSection = section('sec-organizations', 'detail.organizations',
      top.length === 0 ? h('p', { class: 'empty' }, t('detail.none')) :
        h('ol', { class: 'chain', id: 'organization-chain' }, top.map((org, i) => h('li', { dataset: { id: org.id } },
          h('span', { class: 'badge' }, t(levelOf(chain.length - 1 - i, chain.length))),
          ' ', h('strong', {}, org.name || org.id),
          definitionList([
            ['detail.identifier', identifierText(org)],
            ['detail.orgType', conceptText(org.type)],
            ['detail.address', addressText(org.address)],
          ])))));

    // Locations
    const locationSection = section('sec-locations', 'detail.locations',
      table('locations-table',
        [t('detail.name'), t('detail.address'), t('detail.commune'), t('detail.position'), t('detail.status'), t('results.freeBeds')],
        locations.map((l) => {
          const p = position(l);
          const c = communeOf(l);
          const free = freeBeds(l);
          return [l.name || l.id, addressText(l.address), c ? `${c.name} (${c.code})` : '',
            p ? `${formatNumber(p.lat, 5)}, ${formatNumber(p.lon, 5)}` : '',
            l.operationalStatus?.display || l.status || '', free === null ? '—' : formatNumber(free, 0)];
        }), 'detail.none'),
      h('div', { class: 'detail-map' }));

    // Capacities
    const capacityRows = [];
    for (const l of locations) {
      for (const ext of extensions(l, EXT.capacity)) {
        const r = capacityRecord(ext);
        capacityRows.push([l.name || l.id, r.typeLabel, r.statusLabel, r.temporalityLabel, r.genderLabel || '—',
          r.count === null ? '—' : formatNumber(r.count, 0), r.closingLabel || '—', r.assignmentLabel || '—', formatDate(r.updated)]);
      }
      for (const ext of extensions(l, EXT.residential)) {
        capacityRows.push([l.name || l.id, displayOf(ext, 'residentialType'), '—', '—', '—',
          String(sub(ext, 'residentialNumber')?.valueInteger ?? '—'), '—', '—', '—']);
      }
    }
    const capacitySection = section('sec-capacities', 'detail.capacities',
      table('capacities-table', [t('detail.location'), t('detail.capType'), t('detail.capStatus'), t('detail.capTemporality'),
        t('detail.capGender'), t('detail.capCount'), t('detail.capClosing'), t('detail.capAssignment'), t('detail.updated')],
      capacityRows, 'detail.noCapacity'));

    // Equipment
    const equipmentRows = [];
    for (const l of locations) {
      for (const ext of extensions(l, EXT.equipment)) {
        const limits = (ext.extension || []).filter((e) => e.url === EXT.equipmentLimit).map((limit) => {
          const feature = coding(sub(limit, 'equipmentFeature')?.valueCodeableConcept);
          const value = sub(limit, 'limitValue')?.valueQuantity;
          return `${feature?.display || feature?.code || ''} ${value ? `${formatNumber(value.value, 0)} ${value.unit || value.code || ''}` : ''}`.trim();
        });
        equipmentRows.push([l.name || l.id, displayOf(ext, 'equipmentType'),
          String(sub(ext, 'nbInService')?.valueInteger ?? '—'), limits.join('; ') || '—']);
      }
    }
    const equipmentSection = section('sec-equipment', 'detail.equipment',
      table('equipment-table', [t('detail.location'), t('detail.eqType'), t('detail.eqCount'), t('detail.eqLimits')],
        equipmentRows, 'detail.noEquipment'));

    // Tariffs: on the EG (or any level of the chain).
    const tariffRows = [];
    for (const org of chain) {
      for (const ext of extensions(org, EXT.price)) {
        const details = ['residentialType', 'specialPrice', 'dependencyLevel', 'welcomeType']
          .map((k) => displayOf(ext, k)).filter(Boolean);
        for (const k of ['humanHelpPriceName', 'mealDeliveryName', 'otherAdditionalServiceName']) {
          const s = sub(ext, k)?.valueString;
          if (s) details.push(s);
        }
        tariffRows.push([org.name || org.id, displayOf(ext, 'priceType'), displayOf(ext, 'priceUnit'),
          money(sub(ext, 'amount')), formatDate(sub(ext, 'startDate')?.valueDateTime || sub(ext, 'startDate')?.valueDate),
          details.join('; ') || '—']);
      }
    }
    const tariffSection = section('sec-tariffs', 'detail.tariffs',
      table('tariffs-table', [t('detail.organization'), t('detail.priceType'), t('detail.priceUnit'), t('detail.amount'),
        t('detail.startDate'), t('detail.details')], tariffRows, 'detail.noTariff'));

    // Practitioners
    const roles = view.included('PractitionerRole')
      .filter((r) => [].concat(r.healthcareService || []).some((s) => view.resolve(s)?.id === offer.id));
    const practitionerSection = section('sec-practitioners', 'detail.practitioners',
      table('practitioners-table', [t('detail.name'), t('detail.identifier'), t('detail.role')],
        roles.map((role) => {
          const person = view.resolve(role.practitioner);
          const name = (person?.name || []).map((n) => [n.prefix?.join(' '), n.given?.join(' '), n.family].filter(Boolean).join(' ')).join(', ');
          return [name || person?.id || '—', identifierText(person), conceptText(role.code)];
        }), 'detail.none'));

    // Anomalies, on the offer first.
    const tasks = view.included('Task')
      .map((task) => ({ task, target: focusOf(view, task) }))
      .sort((a, b) => (a.target === offer ? 0 : 1) - (b.target === offer ? 0 : 1));
    const anomalySection = section('sec-anomalies', 'detail.anomalies',
      table('anomalies-table', [t('detail.identifier'), t('detail.element'), t('detail.businessStatus'), t('detail.theme'),
        t('detail.action'), t('detail.description'), t('detail.authoredOn')],
      tasks.map(({ task, target }) => [identifierText(task) || task.id,
        target ? `${t(`type.${target.resourceType}`, {}, target.resourceType)} — ${target.name || target.id}` : (task.focus?.reference || identifierText({ identifier: [task.focus?.identifier].filter(Boolean) }) || '—'),
        conceptText(task.businessStatus), conceptText(task.code),
        conceptText(task.reasonCode), task.description || '—', formatDate(task.authoredOn)]), 'detail.noAnomaly'));

    body.append(offerSection, orgSection, locationSection, capacitySection, equipmentSection, tariffSection,
      practitionerSection, anomalySection);
    body.dataset.state = 'done';

    const markers = locations.map((l, i) => ({ l, p: position(l), i }))
      .filter(({ p }) => p)
      .map(({ l, p, i }) => ({ offerId: offer.id, locationId: l.id, lat: p.lat, lon: p.lon, rank: i + 1, title: l.name || l.id }));
    if (markers.length) {
      const map = new MapView(locationSection.querySelector('.detail-map'), {
        id: 'detail-map', tileUrl: ctx.config?.tileUrl, label: t('map.detailLabel'),
      });
      map.setMarkers(markers);
      map.fitContent();
      disposers.push(() => map.destroy());
    }
    status.textContent = t('detail.loaded', { locations: locations.length, anomalies: tasks.length });
    announce(status.textContent);
  })();

  return () => { for (const dispose of disposers) dispose(); };
}
