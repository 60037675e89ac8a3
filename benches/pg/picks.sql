-- Corpus values for the ${NAME} placeholders of mix.tsv, picked by fixed rules from the loaded
-- corpus (so the same scale and seed always give the same values). Output: NAME<TAB>value.
-- Run by run_comparison.sh: psql -At -F '<TAB>' -f picks.sql > vars.tsv
\pset footer off

-- UC1 S2: the idLocation (type 25) of the first place of Pays de la Loire (region 52).
SELECT 'LOC_IDENT', jsonb_path_query_first(l.doc, 'strict $.identifier[*] ? (@.type.coding[*].code == "25").value') #>> '{}'
FROM location l WHERE l.tags @> ARRAY['52'] ORDER BY l.seq LIMIT 1;

-- UC2 S3: the first cardiology offer (R211 013) that has practitioners (a full include block).
SELECT 'HS_IDENT', h.doc #>> '{identifier,0,value}'
FROM healthcare_service h
WHERE h.specialty @> ARRAY['https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle|013']
  AND EXISTS (SELECT 1 FROM practitioner_role r WHERE r.service = h.id)
ORDER BY h.seq LIMIT 1;

-- UC2 S2: the FINESS of the establishment (EG) providing the most offers, through its internal
-- organisations (pôles, services) included.
WITH RECURSIVE up(hs, org) AS (
    SELECT id, provided_by FROM healthcare_service WHERE provided_by IS NOT NULL
  UNION ALL
    SELECT up.hs, o.part_of FROM up JOIN organization o ON o.id = up.org WHERE o.part_of IS NOT NULL
), eg AS (
  SELECT o.id, count(*) AS offers, min(o.seq) AS seq
  FROM up JOIN organization o ON o.id = up.org
  WHERE jsonb_path_exists(o.doc, 'strict $.identifier[*] ? (@.system == "https://finess.esante.gouv.fr")')
    AND o.part_of IS NOT NULL -- an EG (its partOf is the EJ), not the EJ itself
  GROUP BY o.id
)
SELECT 'FINESS', jsonb_path_query_first(o.doc, 'strict $.identifier[*] ? (@.system == "https://finess.esante.gouv.fr").value') #>> '{}'
FROM eg JOIN organization o USING (id) ORDER BY eg.offers DESC, eg.seq LIMIT 1;

-- UC3 S13: the professional with the most roles (first in load order on ties).
SELECT 'PRACT_IDENT', x.doc #>> '{identifier,0,value}'
FROM practitioner x JOIN (SELECT practitioner, count(*) AS n FROM practitioner_role GROUP BY practitioner) r ON r.practitioner = x.id
ORDER BY r.n DESC, x.seq LIMIT 1;
