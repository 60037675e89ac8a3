//! What the query benchmarks share: the code systems of SPEC §3 and the UC2 include block,
//! used to expand `benches/pg/mix.tsv`.

/// Code systems of SPEC §3 (the `R211`… shorthands of the use-case tables).
pub const SYSTEMS: &[(&str, &str)] = &[
    ("R13", "TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"),
    ("R30", "TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM"),
    ("R66", "TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"),
    ("R210", "TRE_R210-ActeSpecifique/FHIR/TRE-R210-ActeSpecifique"),
    ("R211", "TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle"),
    ("R213", "TRE_R213-ModePriseEnCharge/FHIR/TRE-R213-ModePriseEnCharge"),
    ("R243", "TRE_R243-CompetenceSpecifique/FHIR/TRE-R243-CompetenceSpecifique"),
    ("R244", "TRE_R244-CategorieOrganisation/FHIR/TRE-R244-CategorieOrganisation"),
    ("R245", "TRE_R245-SpecialisationDePriseEnCharge/FHIR/TRE-R245-SpecialisationDePriseEnCharge"),
    ("R338", "TRE_R338-ModaliteAccueil/FHIR/TRE-R338-ModaliteAccueil"),
    ("R352", "TRE_R352-StatutMetierAnomalie/FHIR/TRE-R352-StatutMetierAnomalie"),
    // UC4 (capacity and equipment records of Location)
    ("R212", "TRE_R212-Equipement/FHIR/TRE-R212-Equipement"),
    ("R329", "TRE_R329-NatureCapacite/FHIR/TRE-R329-NatureCapacite"),
    ("R330", "TRE_R330-TypeStatutCapacite/FHIR/TRE-R330-TypeStatutCapacite"),
    ("R331", "TRE_R331-TemporaliteCapacite/FHIR/TRE-R331-TemporaliteCapacite"),
    ("R332", "TRE_R332-GenreCapacite/FHIR/TRE-R332-GenreCapacite"),
    ("R333", "TRE_R333-TypeFermetureCapacite/FHIR/TRE-R333-TypeFermetureCapacite"),
    ("R340", "TRE_R340-TypeCaracteristiqueEquipement/FHIR/TRE-R340-TypeCaracteristiqueEquipement"),
    // UC5 (tariffs of Organization)
    ("R237", "TRE_R237-GroupeTarifaireDependance/FHIR/TRE-R237-GroupeTarifaireDependance"),
    ("R240", "TRE_R240-TemporaliteAccueil/FHIR/TRE-R240-TemporaliteAccueil"),
    ("R242", "TRE_R242-TypeHabitation/FHIR/TRE-R242-TypeHabitation"),
    ("R246", "TRE_R246-TypeTarif/FHIR/TRE-R246-TypeTarif"),
    ("R250", "TRE_R250-ConditionTarifaire/FHIR/TRE-R250-ConditionTarifaire"),
];

/// The standard include block of SPEC UC2 (`{INC}`).
pub const INC: &str = "&_include=HealthcareService:organization&_include:iterate=Organization:partof\
&_include=HealthcareService:location&_revinclude=PractitionerRole:service&_include=PractitionerRole:practitioner";
