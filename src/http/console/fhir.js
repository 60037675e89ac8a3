// FHIR side of the console: building the SPEC's requests, calling the API, reading Bundles.
// No DOM here, so the request builder can be reasoned about (and tested) on its own.

export const NOS = 'https://mos.esante.gouv.fr/NOS';
export const SYSTEM = {
  capacityType: `${NOS}/TRE_R329-NatureCapacite/FHIR/TRE-R329-NatureCapacite`,
  capacityStatus: `${NOS}/TRE_R330-TypeStatutCapacite/FHIR/TRE-R330-TypeStatutCapacite`,
  capacityTemporality: `${NOS}/TRE_R331-TemporaliteCapacite/FHIR/TRE-R331-TemporaliteCapacite`,
};
const SD = 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/';
export const EXT = {
  communeCog: `${SD}ror-commune-cog`,
  capacity: `${SD}ror-location-supported-capacity`,
  equipment: `${SD}ror-location-equipment`,
  equipmentLimit: `${SD}ror-location-equipment-limit`,
  residential: `${SD}ror-location-residential-capacity`,
  price: `${SD}ror-organization-price`,
  distance: 'http://hl7.org/fhir/StructureDefinition/location-distance',
};

/** SPEC §3 UC2: the standard include block ({INC}). */
export const UC2_INCLUDES = [
  ['_include', 'HealthcareService:organization'],
  ['_include:iterate', 'Organization:partof'],
  ['_include', 'HealthcareService:location'],
  ['_revinclude', 'PractitionerRole:service'],
  ['_include', 'PractitionerRole:practitioner'],
];

/** The includes a result list needs: locations (positions, capacities) and the organization chain. */
export const LIST_INCLUDES = [
  ['_include', 'HealthcareService:location'],
  ['_include', 'HealthcareService:organization'],
  ['_include:iterate', 'Organization:partof'],
];

const TOKEN_KEY = 'ror-console-token';

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lives for this page only */ }
}

// `:`, `/` and `,` are legal in a query and keep the shown URL readable (`_include=Type:param`,
// system URLs, OR lists); everything else, `|` included, is percent-encoded.
function encodeQueryPart(text) {
  return encodeURIComponent(text).replace(/%3A/gi, ':').replace(/%2F/gi, '/').replace(/%2C/gi, ',');
}

export function queryString(params) {
  return params.map(([name, value]) => `${encodeQueryPart(name)}=${encodeQueryPart(value)}`).join('&');
}

function parseCode(text) {
  // Pickers show "013 — Cardiologie"; a bare code is accepted too.
  const match = String(text || '').trim().match(/^([0-9A-Za-z]+)(\s|$|[—–-])/);
  return match ? match[1] : '';
}

function positiveNumber(text) {
  const value = Number(String(text ?? '').replace(',', '.').trim());
  return Number.isFinite(value) && value > 0 ? value : null;
}

/**
 * Search form → FHIR HealthcareService request (SPEC UC1, UC3 S6, UC4 S1, UC5, UC6).
 * Returns {params, errors, centre}; `errors` holds i18n keys with the offending field.
 */
export function buildSearch(form, codes) {
  const params = [];
  const errors = [];
  const text = String(form.text || '').trim();
  if (text) {
    if (form.textMode === 'name') {
      params.push(['name', text]);
    } else if (form.textMode === 'location') {
      // UC6 S2: the offer or one of its locations mentions the words.
      const quoted = /[\s()",]/.test(text) ? `"${text.replace(/"/g, '')}"` : text;
      params.push(['_filter', `(_content=${quoted} or location._content=${quoted})`]);
    } else {
      params.push(['_content', text]);
    }
  }
  for (const [field, list, param] of [['activity', 'activity', 'specialty'], ['offerType', 'offerType', 'service-category']]) {
    const raw = String(form[field] || '').trim();
    if (!raw) continue;
    const code = parseCode(raw);
    const known = codes?.lists?.[list];
    if (!code || (known && !known.codes.some(([c]) => c === code))) {
      errors.push({ field, key: 'error.unknownCode' });
      continue;
    }
    params.push([param, `${known ? known.system : ''}|${code}`]);
  }
  const radius = positiveNumber(form.radius);
  let centre = null;
  if (form.place === 'commune') {
    const cog = parseCode(form.commune);
    if (!/^[0-9][0-9AB][0-9]{3}$/i.test(cog)) {
      errors.push({ field: 'commune', key: 'error.commune' });
    } else if (!radius) {
      errors.push({ field: 'radius', key: 'error.radius' });
    } else {
      params.push(['location.near-insee-code', `${cog.toUpperCase()}|${radius}|km`]);
      centre = { cog: cog.toUpperCase(), radiusKm: radius };
    }
  } else if (form.place === 'point') {
    const lat = Number(String(form.lat ?? '').replace(',', '.'));
    const lon = Number(String(form.lon ?? '').replace(',', '.'));
    if (String(form.lat ?? '').trim() === '' || !Number.isFinite(lat) || lat < -90 || lat > 90) {
      errors.push({ field: 'lat', key: 'error.lat' });
    } else if (String(form.lon ?? '').trim() === '' || !Number.isFinite(lon) || lon < -180 || lon > 180) {
      errors.push({ field: 'lon', key: 'error.lon' });
    } else if (!radius) {
      errors.push({ field: 'radius', key: 'error.radius' });
    } else {
      params.push(['location.near', `${lat}|${lon}|${radius}|km`]);
      centre = { lat, lon, radiusKm: radius };
    }
  }
  if (form.department) {
    params.push(['location.address-postalcode', form.department]);
  }
  let recordMatching = false;
  const beds = String(form.beds ?? '').trim();
  if (beds) {
    const n = Number(beds);
    if (!Number.isInteger(n) || n < 1) {
      errors.push({ field: 'beds', key: 'error.beds' });
    } else {
      // UC4 S1: "lit disponible" = Lit (01) + Disponible (02), current (01), with at least n of them.
      params.push(['location.capacity-type', `${SYSTEM.capacityType}|01`]);
      params.push(['location.capacity-status', `${SYSTEM.capacityStatus}|02`]);
      params.push(['location.temporality-capacity', `${SYSTEM.capacityTemporality}|01`]);
      params.push(['location.nb-capacity', `ge${n}`]);
      recordMatching = true;
    }
  }
  const priceType = String(form.priceType || '').trim();
  if (priceType) {
    const known = codes?.lists?.priceType;
    if (known && !known.codes.some(([c]) => c === priceType)) {
      errors.push({ field: 'priceType', key: 'error.unknownCode' });
    } else {
      params.push(['organization.price-type:above', `${known ? known.system : ''}|${priceType}`]);
      recordMatching = true;
    }
  }
  const price = String(form.price ?? '').trim();
  if (price) {
    const amount = positiveNumber(price);
    if (amount === null) {
      errors.push({ field: 'price', key: 'error.price' });
    } else {
      // UC5: tariffs live on the EG, so `:above` lets an offer of an OI find them.
      params.push(['organization.price-amount-value:above', `le${amount}`]);
      recordMatching = true;
    }
  }
  if (recordMatching) {
    // The beds (or the tariff) must be counted on one capacity line (one tariff), not summed
    // up from unrelated records (README, decisions on SPEC §6.2).
    params.push(['_matching', 'record']);
  }
  params.push(...LIST_INCLUDES);
  const count = Number(form.count) || 50;
  params.push(['_count', String(Math.min(Math.max(count, 1), 200))]);
  return { params, errors, centre };
}

export function curlCommand(url, token) {
  const auth = token ? ` -H 'Authorization: Bearer ${token.replace(/'/g, '')}'` : '';
  return `curl -g${auth} '${url.replace(/'/g, "'\\''")}'`;
}

export class ApiError extends Error {
  constructor(status, message, outcome, headers = null) {
    super(message);
    this.status = status;
    this.outcome = outcome;
    this.headers = headers;
  }
}

/** Diagnostics of an OperationOutcome, or null. */
export function outcomeText(body) {
  if (!body || body.resourceType !== 'OperationOutcome') return null;
  return (body.issue || [])
    .map((i) => [i.severity, i.diagnostics || i.details?.text || i.code, (i.expression || []).join(', ')]
      .filter(Boolean).join(' — '))
    .join('\n');
}

/** fetch with the console's bearer token; JSON answers are parsed, errors carry their OperationOutcome. */
export async function api(url, options = {}) {
  const headers = { Accept: 'application/fhir+json, application/json', ...(options.headers || {}) };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { ...options, headers });
  } catch (error) {
    throw new ApiError(0, String(error?.message || error), null);
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    const message = outcomeText(body) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, body, response.headers);
  }
  return { status: response.status, headers: response.headers, body };
}

/** Same-origin path of an absolute link the server wrote (`next` links carry its public base URL). */
export function samePath(link) {
  try {
    const url = new URL(link, window.location.href);
    return url.pathname + url.search;
  } catch {
    return link;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading Bundles

export class BundleView {
  constructor(bundle) {
    this.bundle = bundle || {};
    this.byRef = new Map();
    this.entries = this.bundle.entry || [];
    this.distances = new Map();
    for (const entry of this.entries) {
      const r = entry.resource;
      if (!r?.resourceType || !r.id) continue;
      const ref = `${r.resourceType}/${r.id}`;
      this.byRef.set(ref, r);
      const distance = (entry.search?.extension || []).find((e) => e.url === EXT.distance)?.valueDistance;
      if (distance && typeof distance.value === 'number') {
        this.distances.set(ref, distance.unit === 'm' ? distance.value / 1000 : distance.value);
      }
    }
  }

  get total() { return typeof this.bundle.total === 'number' ? this.bundle.total : null; }

  matches(type) {
    return this.entries
      .filter((e) => e.search?.mode === 'match' && (!type || e.resource?.resourceType === type))
      .map((e) => e.resource);
  }

  included(type) {
    return this.entries
      .filter((e) => e.search?.mode === 'include' && e.resource?.resourceType === type)
      .map((e) => e.resource);
  }

  outcomes() {
    return this.entries.filter((e) => e.search?.mode === 'outcome').map((e) => outcomeText(e.resource)).filter(Boolean);
  }

  link(relation) {
    return (this.bundle.link || []).find((l) => l.relation === relation)?.url || null;
  }

  resolve(reference) {
    if (!reference?.reference) return null;
    const ref = reference.reference.replace(/^.*\/(\w+\/[^/]+)$/, '$1');
    return this.byRef.get(ref) || null;
  }

  /** providedBy, then its partOf ancestors, nearest first (cycles cut). */
  organizationChain(offer) {
    const chain = [];
    const seen = new Set();
    let org = this.resolve(offer?.providedBy);
    while (org && !seen.has(org.id)) {
      seen.add(org.id);
      chain.push(org);
      org = this.resolve(org.partOf);
    }
    return chain;
  }

  /** The geographic establishment (EG) of an offer: the level just under the legal entity. */
  establishment(offer) {
    const chain = this.organizationChain(offer);
    if (chain.length === 0) return null;
    return chain.length >= 2 ? chain[chain.length - 2] : chain[0];
  }

  locations(offer) {
    return (offer?.location || []).map((l) => this.resolve(l)).filter(Boolean);
  }

  distanceKm(location) {
    return location ? this.distances.get(`Location/${location.id}`) ?? null : null;
  }

  /** Nearest distance over the offer's locations, as the server orders by it. */
  offerDistanceKm(offer) {
    const values = this.locations(offer).map((l) => this.distanceKm(l)).filter((d) => d !== null);
    return values.length ? Math.min(...values) : null;
  }
}

export function extensions(resource, url) {
  return (resource?.extension || []).filter((e) => e.url === url);
}

export function sub(extension, url) {
  return (extension?.extension || []).find((e) => e.url === url) || null;
}

export function coding(value) {
  const concept = value?.valueCodeableConcept || value;
  return concept?.coding?.[0] || (value?.valueCoding ?? null);
}

export function codeOf(extension, url) {
  const s = sub(extension, url);
  if (!s) return null;
  return coding(s.valueCodeableConcept)?.code ?? s.valueCode ?? null;
}

export function displayOf(extension, url) {
  const s = sub(extension, url);
  if (!s) return '';
  const c = coding(s.valueCodeableConcept);
  if (c) return c.display ? `${c.display} (${c.code})` : c.code || '';
  return s.valueCode || '';
}

/** One capacity record as plain fields. */
export function capacityRecord(extension) {
  return {
    type: codeOf(extension, 'capacityType'),
    status: codeOf(extension, 'capacityStatus'),
    temporality: codeOf(extension, 'temporalityCapacity'),
    count: sub(extension, 'nbCapacity')?.valueInteger ?? null,
    typeLabel: displayOf(extension, 'capacityType'),
    statusLabel: displayOf(extension, 'capacityStatus'),
    temporalityLabel: displayOf(extension, 'temporalityCapacity'),
    genderLabel: displayOf(extension, 'genderCapacityAvailable'),
    closingLabel: displayOf(extension, 'capacityClosingType'),
    assignmentLabel: displayOf(extension, 'temporaryAssignement'),
    sourceLabel: displayOf(extension, 'capacitySourceType'),
    updated: sub(extension, 'capacityUpdateDate')?.valueDateTime ?? null,
  };
}

/** Free beds of a location: current available beds (Lit 01, Disponible 02, Courant 01), null without capacity data. */
export function freeBeds(location) {
  const records = extensions(location, EXT.capacity).map(capacityRecord);
  if (records.length === 0) return null;
  return records
    .filter((r) => r.type === '01' && r.status === '02' && (r.temporality === '01' || r.temporality === null))
    .reduce((sum, r) => sum + (r.count || 0), 0);
}

export function offerFreeBeds(view, offer) {
  const values = view.locations(offer).map(freeBeds).filter((n) => n !== null);
  return values.length ? values.reduce((a, b) => a + b, 0) : null;
}

export function position(location) {
  const p = location?.position;
  if (!p || typeof p.latitude !== 'number' || typeof p.longitude !== 'number') return null;
  return { lat: p.latitude, lon: p.longitude };
}

export function communeOf(location) {
  const c = coding(extensions(location, EXT.communeCog)[0]?.valueCodeableConcept);
  return c ? { code: c.code, name: c.display || '' } : null;
}

export function identifierText(resource) {
  return (resource?.identifier || []).map((i) => i.value).filter(Boolean).join(', ');
}

export function conceptText(concepts) {
  const list = Array.isArray(concepts) ? concepts : concepts ? [concepts] : [];
  return list
    .flatMap((c) => c.coding || [])
    .map((c) => (c.display ? `${c.display} (${c.code})` : c.code))
    .filter(Boolean)
    .join(', ');
}

export function addressText(address) {
  const a = Array.isArray(address) ? address[0] : address;
  if (!a) return '';
  return [...(a.line || []), [a.postalCode, a.city].filter(Boolean).join(' ')].filter(Boolean).join(', ');
}
