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
       ror_content(doc) AS content
FROM stage_organization;
ALTER TABLE organization ADD PRIMARY KEY (id);
CREATE INDEX ON organization (part_of);
CREATE INDEX ON organization USING gin (identifiers);
CREATE INDEX ON organization USING gin (types);
CREATE INDEX ON organization USING gin (tags);
CREATE INDEX ON organization (last_updated);
CREATE INDEX ON organization USING gin (content);

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
