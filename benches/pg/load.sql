-- Transform the staged NDJSON (stage_<type>(seq, doc jsonb), filled by load.sh with COPY) into
-- one table per resource type: the raw jsonb plus the search columns a DBA would extract for the
-- ROR search parameters of ../../index-schemas/search-parameters.toml used by the query mix
-- (mix.tsv), with the index each one needs. Run by load.sh: psql -v ON_ERROR_STOP=1 -f load.sql
--
-- Conventions
--   token columns (text[]): for each Coding / Identifier, 'system|code' and the bare 'code'
--     ('|code' when there is no system), so `param=sys|code` is `col @> '{sys|code}'` and
--     `param=code` (any system) is `col @> '{code}'`; GIN (array_ops) on each.
--   reference columns: the target's id ('Organization/ej-1' -> 'ej-1'); btree, GIN for arrays.
--   _content: tsvector, `french` config (Snowball French stemmer, as ror-search's tantivy
--     analyzer) over unaccent()ed text with every non-alphanumeric character turned into a space
--     (ror-search tokenizes the same way); GIN. Text: ror_text below, the same strings as
--     ror-search's collect_text (src/index/extract.rs).
--   seq: line number in the NDJSON file (stable paging order, like a serial primary key).
--   repeated complex extensions (capacity and equipment records of Location, tariffs of
--     Organization): one column per search parameter over all the records of the resource
--     (token arrays, smallest/largest number or instant), GIN/btree. That is the IG's default,
--     independent semantics (SPEC §6.2, what ror-search implements): `location.capacity-type=…|01
--     &location.capacity-status=…|02` may hold on two different records, or two different places
--     of the offer. Record-level matching (the opt-in of §6.2) would need one row per record
--     instead; the mix does not use it. Quantities (limit-value) get their own table, with the
--     value in the base unit of its UCUM dimension.

\timing on
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
-- The transform of each table (CREATE TABLE AS) and its index builds may use both cores.
SET max_parallel_workers_per_gather = 2;

CREATE OR REPLACE FUNCTION ror_tok(doc jsonb, p jsonpath) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT t ORDER BY t), '{}')
  FROM jsonb_path_query(doc, p, '{}', true) c,
       LATERAL (SELECT coalesce(c->>'code', c->>'value') AS v) code,
       LATERAL (VALUES (coalesce(c->>'system', '') || '|' || code.v), (code.v)) tokens(t)
  WHERE jsonb_typeof(c) = 'object' AND code.v IS NOT NULL
$$;

CREATE OR REPLACE FUNCTION ror_refs(doc jsonb, p jsonpath) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT regexp_replace(r->>'reference', '^.*/', '')), '{}')
  FROM jsonb_path_query(doc, p, '{}', true) r
  WHERE r->>'reference' IS NOT NULL
$$;

CREATE OR REPLACE FUNCTION ror_ref(doc jsonb, p jsonpath) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT regexp_replace(jsonb_path_query_first(doc, p, '{}', true)->>'reference', '^.*/', '')
$$;

-- Tokens of coded sub-extensions (capacity, equipment and tariff records): p selects the
-- extension objects; their valueCodeableConcept codings, valueCoding, or valueCode (older IG drafts
-- and the published SearchParameters say `.value.as(code)`, SPEC §6.1.1: both are indexed).
CREATE OR REPLACE FUNCTION ror_ext_tok(doc jsonb, p jsonpath) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT t ORDER BY t), '{}')
  FROM jsonb_path_query(doc, p, '{}', true) e,
       LATERAL (SELECT c FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e->'valueCodeableConcept'->'coding') = 'array'
                                                        THEN e->'valueCodeableConcept'->'coding' ELSE '[]' END) c
                UNION ALL SELECT e->'valueCoding' WHERE jsonb_typeof(e->'valueCoding') = 'object'
                UNION ALL SELECT jsonb_build_object('code', e->>'valueCode') WHERE e ? 'valueCode') codings(c),
       LATERAL (VALUES (coalesce(c->>'system', '') || '|' || (c->>'code')), (c->>'code')) tokens(t)
  WHERE c->>'code' IS NOT NULL
$$;

-- Smallest / largest number p selects (a number search parameter with independent semantics:
-- `gt`/`ge` hold on some value iff they hold on the largest, `lt`/`le` on the smallest).
CREATE OR REPLACE FUNCTION ror_min(doc jsonb, p jsonpath) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT min((v #>> '{}')::numeric) FROM jsonb_path_query(doc, p, '{}', true) v WHERE jsonb_typeof(v) = 'number'
$$;
CREATE OR REPLACE FUNCTION ror_max(doc jsonb, p jsonpath) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT max((v #>> '{}')::numeric) FROM jsonb_path_query(doc, p, '{}', true) v WHERE jsonb_typeof(v) = 'number'
$$;

-- Earliest / latest instant p selects (dateTime strings; the sort keys of a date parameter).
CREATE OR REPLACE FUNCTION ror_min_ts(doc jsonb, p jsonpath) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT min((v #>> '{}')::timestamptz) FROM jsonb_path_query(doc, p, '{}', true) v WHERE jsonb_typeof(v) = 'string'
$$;
CREATE OR REPLACE FUNCTION ror_max_ts(doc jsonb, p jsonpath) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT max((v #>> '{}')::timestamptz) FROM jsonb_path_query(doc, p, '{}', true) v WHERE jsonb_typeof(v) = 'string'
$$;

-- The text of a resource for _content, as ror-search's collect_text (src/index/extract.rs): every
-- string, except under meta, text, _line, extension, modifierExtension, contained, availableTime,
-- notAvailable, position and identifier, except the values of plumbing keys (url, system,
-- reference, id, code, status…) and URLs.
CREATE OR REPLACE FUNCTION ror_text(doc jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  WITH RECURSIVE walk(k, v) AS (
      SELECT ''::text, doc
    UNION ALL
      SELECT c.k, c.v FROM walk w, LATERAL (
        SELECT e.key AS k, e.value AS v
        FROM jsonb_each(CASE WHEN jsonb_typeof(w.v) = 'object' THEN w.v ELSE '{}' END) e
        WHERE e.key NOT IN ('meta', 'text', '_line', 'extension', 'modifierExtension', 'contained', 'availableTime',
                            'notAvailable', 'position', 'identifier')
        UNION ALL
        SELECT w.k, a FROM jsonb_array_elements(CASE WHEN jsonb_typeof(w.v) = 'array' THEN w.v ELSE '[]' END) a
      ) c
  )
  SELECT coalesce(string_agg(v #>> '{}', ' '), '') FROM walk
  WHERE jsonb_typeof(v) = 'string'
    AND k NOT IN ('url', 'system', 'reference', 'id', 'resourceType', 'profile', 'versionId', 'lastUpdated', 'code',
                  'valueCanonical', 'use', 'status', 'intent', 'currency')
    AND (v #>> '{}') !~ '^(https?://|urn:)'
$$;

CREATE OR REPLACE FUNCTION ror_content(doc jsonb) RETURNS tsvector
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_tsvector('french', regexp_replace(unaccent(ror_text(doc)), '[^[:alnum:]]+', ' ', 'g'))
$$;

-- ---------------------------------------------------------------------------- Organization
DROP TABLE IF EXISTS organization CASCADE;
CREATE TABLE organization AS
SELECT seq,
       doc->>'id' AS id,
       doc,
       (doc#>>'{meta,lastUpdated}')::timestamptz AS last_updated,
       ror_tok(doc, 'strict $.meta.tag[*]') AS tags,
       ror_tok(doc, 'strict $.identifier[*]') AS identifiers,
       ror_tok(doc, 'strict $.type[*].coding[*]') AS types,
       ror_ref(doc, 'strict $.partOf') AS part_of,
       -- Tariffs (ror-organization-price records, SPEC §1.5, §2.3 with the §6.1.3/§6.1.4 paths):
       -- each price-* parameter over all the records of the organization (independent semantics).
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price").extension[*] ? (@.url == "priceType")') AS price_type,
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price").extension[*] ? (@.url == "residentialType")') AS price_residential_type,
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price").extension[*] ? (@.url == "specialPrice")') AS special_price,
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price").extension[*] ? (@.url == "dependencyLevel")') AS price_dependency_level,
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price").extension[*] ? (@.url == "welcomeType")') AS price_welcome_type,
       ror_min(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price").extension[*] ? (@.url == "amount").valueMoney.value') AS price_amount_min,
       ror_max(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price").extension[*] ? (@.url == "amount").valueMoney.value') AS price_amount_max,
       -- startDate: valueDateTime (the v0.7.0 type; the FSH drafts' valueDate is not in the corpus).
       ror_min_ts(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price").extension[*] ? (@.url == "startDate").valueDateTime') AS price_start_min,
       ror_max_ts(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price").extension[*] ? (@.url == "startDate").valueDateTime') AS price_start_max,
       ror_content(doc) AS content
FROM stage_organization;
ALTER TABLE organization ADD PRIMARY KEY (id);
CREATE INDEX ON organization (part_of);
CREATE INDEX ON organization USING gin (identifiers);
CREATE INDEX ON organization USING gin (types);
CREATE INDEX ON organization USING gin (tags);
CREATE INDEX ON organization (last_updated);
CREATE INDEX ON organization USING gin (content);
CREATE INDEX ON organization USING gin (price_type);
CREATE INDEX ON organization USING gin (price_residential_type);
CREATE INDEX ON organization USING gin (special_price);
CREATE INDEX ON organization USING gin (price_dependency_level);
CREATE INDEX ON organization USING gin (price_welcome_type);
CREATE INDEX ON organization (price_amount_min);
CREATE INDEX ON organization (price_start_max);

-- ---------------------------------------------------------------------------- Location
DROP TABLE IF EXISTS location CASCADE;
CREATE TABLE location AS
SELECT seq,
       doc->>'id' AS id,
       doc,
       (doc#>>'{meta,lastUpdated}')::timestamptz AS last_updated,
       ror_tok(doc, 'strict $.meta.tag[*]') AS tags,
       ror_tok(doc, 'strict $.identifier[*]') AS identifiers,
       upper(doc#>>'{address,postalCode}') AS postal_code,
       ror_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-commune-cog").valueCodeableConcept.coding[*]') AS commune_cog,
       CASE WHEN doc ? 'position' THEN
         ST_SetSRID(ST_MakePoint((doc#>>'{position,longitude}')::float8, (doc#>>'{position,latitude}')::float8), 4326)::geography
       END AS geog,
       ror_ref(doc, 'strict $.managingOrganization') AS managing_org,
       -- Capacity records (ror-location-supported-capacity, SPEC §1.4, §2.1): each parameter over
       -- all the records of the place, as the IG's independent semantics evaluate it (SPEC §6.2).
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity").extension[*] ? (@.url == "capacityType")') AS capacity_type,
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity").extension[*] ? (@.url == "capacityStatus")') AS capacity_status,
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity").extension[*] ? (@.url == "temporalityCapacity")') AS temporality_capacity,
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity").extension[*] ? (@.url == "genderCapacityAvailable")') AS gender_capacity_available,
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity").extension[*] ? (@.url == "capacityClosingType")') AS capacity_closing_type,
       ror_min(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity").extension[*] ? (@.url == "nbCapacity").valueInteger') AS nb_capacity_min,
       ror_max(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity").extension[*] ? (@.url == "nbCapacity").valueInteger') AS nb_capacity_max,
       -- Equipment (ror-location-equipment, its limits nested inside it: SPEC §6.1.2).
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment").extension[*] ? (@.url == "equipmentType")') AS equipment_type,
       ror_ext_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment").extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment-limit").extension[*] ? (@.url == "equipmentFeature")') AS equipment_feature,
       ror_content(doc) AS content
FROM stage_location;
ALTER TABLE location ADD PRIMARY KEY (id);
CREATE INDEX ON location (postal_code text_pattern_ops);
CREATE INDEX ON location USING gin (identifiers);
CREATE INDEX ON location USING gin (commune_cog);
CREATE INDEX ON location USING gin (tags);
CREATE INDEX ON location (last_updated);
CREATE INDEX ON location USING gist (geog);
CREATE INDEX ON location (managing_org);
CREATE INDEX ON location USING gin (content);
CREATE INDEX ON location USING gin (capacity_type);
CREATE INDEX ON location USING gin (capacity_status);
CREATE INDEX ON location USING gin (temporality_capacity);
CREATE INDEX ON location USING gin (gender_capacity_available);
CREATE INDEX ON location USING gin (capacity_closing_type);
CREATE INDEX ON location (nb_capacity_max);
CREATE INDEX ON location USING gin (equipment_type);
CREATE INDEX ON location USING gin (equipment_feature);

-- limit-value (quantity): one row per equipment limit, with the value in the base unit of its
-- UCUM dimension (g, m…) so that `ge200|http://unitsofmeasure.org|kg` also finds `250000 g`, as
-- ror-search compares quantities (src/index/ucum.rs: the same units and factors). A value whose
-- unit is not UCUM (another system, or an unknown code) gets no base value: it only matches a
-- search in its own unit, which the mix does not do.
DROP TABLE IF EXISTS ucum_unit;
CREATE TABLE ucum_unit (code text PRIMARY KEY, dimension text NOT NULL, factor numeric NOT NULL);
INSERT INTO ucum_unit VALUES
  ('g', 'mass', 1), ('kg', 'mass', 1000), ('mg', 'mass', 0.001), ('ug', 'mass', 0.000001), ('t', 'mass', 1000000),
  ('[lb_av]', 'mass', 453.59237), ('m', 'length', 1), ('km', 'length', 1000), ('cm', 'length', 0.01),
  ('mm', 'length', 0.001), ('[in_i]', 'length', 0.0254), ('s', 'time', 1), ('min', 'time', 60), ('h', 'time', 3600),
  ('d', 'time', 86400), ('wk', 'time', 604800), ('mo', 'time', 2629800), ('a', 'time', 31557600),
  ('L', 'volume', 1), ('l', 'volume', 1), ('dL', 'volume', 0.1), ('dl', 'volume', 0.1), ('mL', 'volume', 0.001),
  ('ml', 'volume', 0.001);
DROP TABLE IF EXISTS location_limit_value;
CREATE TABLE location_limit_value AS
SELECT l.id AS location_id,
       (q->>'value')::numeric AS value,
       q->>'system' AS system,
       q->>'code' AS code,
       u.dimension,
       (q->>'value')::numeric * u.factor AS base_value
FROM location l
CROSS JOIN LATERAL jsonb_path_query(l.doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment").extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment-limit").extension[*] ? (@.url == "limitValue").valueQuantity', '{}', true) q
LEFT JOIN ucum_unit u ON u.code = q->>'code'
  AND (q->>'system' IS NULL OR q->>'system' IN ('http://unitsofmeasure.org', 'https://unitsofmeasure.org')
       OR q->>'system' LIKE '%TRE_R247-UcumUniteMesure%')
WHERE jsonb_typeof(q->'value') = 'number';
CREATE INDEX ON location_limit_value (location_id);
CREATE INDEX ON location_limit_value (dimension, base_value);

-- ---------------------------------------------------------------------------- HealthcareService
DROP TABLE IF EXISTS healthcare_service CASCADE;
CREATE TABLE healthcare_service AS
SELECT seq,
       doc->>'id' AS id,
       doc,
       (doc#>>'{meta,lastUpdated}')::timestamptz AS last_updated,
       ror_tok(doc, 'strict $.meta.tag[*]') AS tags,
       ror_tok(doc, 'strict $.identifier[*]') AS identifiers,
       ror_tok(doc, 'strict $.category[*].coding[*]') AS category,
       ror_tok(doc, 'strict $.type[*].coding[*]') AS service_type,
       ror_tok(doc, 'strict $.specialty[*].coding[*]') AS specialty,
       ror_tok(doc, 'strict $.characteristic[*].coding[*]') AS characteristic,
       ror_tok(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-territorial-division").extension[*] ? (@.url == "codeTerritorialDivision").valueCodeableConcept.coding[*]') AS intervention_zone,
       (jsonb_path_query_first(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-patient-type").extension[*] ? (@.url == "ageRange").valueRange.low.value', '{}', true) #>> '{}')::numeric AS age_low,
       (jsonb_path_query_first(doc, 'strict $.extension[*] ? (@.url == "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-patient-type").extension[*] ? (@.url == "ageRange").valueRange.high.value', '{}', true) #>> '{}')::numeric AS age_high,
       ror_ref(doc, 'strict $.providedBy') AS provided_by,
       ror_refs(doc, 'strict $.location[*]') AS location_ids,
       ror_content(doc) AS content
FROM stage_healthcareservice;
ALTER TABLE healthcare_service ADD PRIMARY KEY (id);
CREATE INDEX ON healthcare_service USING gin (identifiers);
CREATE INDEX ON healthcare_service USING gin (category);
CREATE INDEX ON healthcare_service USING gin (service_type);
CREATE INDEX ON healthcare_service USING gin (specialty);
CREATE INDEX ON healthcare_service USING gin (characteristic);
CREATE INDEX ON healthcare_service USING gin (intervention_zone);
CREATE INDEX ON healthcare_service USING gin (tags);
CREATE INDEX ON healthcare_service (age_low);
CREATE INDEX ON healthcare_service (age_high);
CREATE INDEX ON healthcare_service (last_updated);
CREATE INDEX ON healthcare_service (provided_by);
CREATE INDEX ON healthcare_service USING gin (location_ids);
CREATE INDEX ON healthcare_service USING gin (content);

-- HealthcareService.location as a link table too: the classic design for a many-to-many
-- reference; "offers whose location …" (chains, _revinclude=HealthcareService:location) join it
-- by location id instead of probing the GIN index of location_ids with thousands of keys.
DROP TABLE IF EXISTS healthcare_service_location;
CREATE TABLE healthcare_service_location AS
SELECT h.id AS hs_id, u.location_id FROM healthcare_service h CROSS JOIN LATERAL unnest(h.location_ids) AS u(location_id);
CREATE INDEX ON healthcare_service_location (location_id);
CREATE INDEX ON healthcare_service_location (hs_id);

-- ---------------------------------------------------------------------------- PractitionerRole
DROP TABLE IF EXISTS practitioner_role CASCADE;
CREATE TABLE practitioner_role AS
SELECT seq,
       doc->>'id' AS id,
       doc,
       (doc#>>'{meta,lastUpdated}')::timestamptz AS last_updated,
       ror_tok(doc, 'strict $.identifier[*]') AS identifiers,
       ror_ref(doc, 'strict $.healthcareService[0]') AS service,
       ror_ref(doc, 'strict $.practitioner') AS practitioner
FROM stage_practitionerrole;
ALTER TABLE practitioner_role ADD PRIMARY KEY (id);
CREATE INDEX ON practitioner_role (service);
CREATE INDEX ON practitioner_role (practitioner);
CREATE INDEX ON practitioner_role USING gin (identifiers);

-- ---------------------------------------------------------------------------- Practitioner
DROP TABLE IF EXISTS practitioner CASCADE;
CREATE TABLE practitioner AS
SELECT seq,
       doc->>'id' AS id,
       doc,
       (doc#>>'{meta,lastUpdated}')::timestamptz AS last_updated,
       ror_tok(doc, 'strict $.identifier[*]') AS identifiers
FROM stage_practitioner;
ALTER TABLE practitioner ADD PRIMARY KEY (id);
CREATE INDEX ON practitioner USING gin (identifiers);

-- ---------------------------------------------------------------------------- Communes (COG centres)
-- The centre of each commune, for near-insee-code (ror-search embeds the same table).
DROP TABLE IF EXISTS commune CASCADE;
CREATE TABLE commune AS
SELECT cog, name, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography AS geog FROM stage_commune;
ALTER TABLE commune ADD PRIMARY KEY (cog);

DROP TABLE stage_organization, stage_location, stage_healthcareservice, stage_practitionerrole, stage_practitioner, stage_commune;
ANALYZE;
