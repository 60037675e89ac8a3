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
];

/// The standard include block of SPEC UC2 (`{INC}`).
pub const INC: &str = "&_include=HealthcareService:organization&_include:iterate=Organization:partof\
&_include=HealthcareService:location&_revinclude=PractitionerRole:service&_include=PractitionerRole:practitioner";
