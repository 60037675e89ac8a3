//! Element-level projection of resources per data access profile (SPEC §5.2–§5.3).
//!
//! A resource is shown to a profile as a function of the profile and of its **offer context**:
//! whether an offer concerned is sensitive (`ror-healthcareservice-sensitive-unit` = true) and
//! the champ d'activité of the offers concerned (`HealthcareService.type`, TRE_R227: `01` MCO,
//! `02` SMR, `03` PSY, `04` MS, `05` Ville, `06` Social). The offers concerned are:
//!
//! * HealthcareService: itself;
//! * Location: the offers whose `HealthcareService.location` references it;
//! * PractitionerRole: its `healthcareService`;
//! * Practitioner: the offers of its roles;
//! * Task: the resources its references (focus, owner, requester) designate;
//! * Organization (and the other types): none — an organization is never hidden, and its
//!   contacts follow the rules of a non-medico-social context.
//!
//! Several offers combine **conservatively** ([`OfferContext::merge`]): the context is
//! sensitive when any offer is, medico-social only when *every* offer is MS, "Ville" only when
//! every offer is Ville; an offer with no known champ, or no offer at all, makes it neither.
//! (A location shared by an MCO and an MS offer therefore gets the stricter sanitary rules of
//! profile 3.)
//!
//! Rules (SPEC §5.3 table, then §5.2 for profiles 4 and 5, see [`View`]):
//!
//! * sensitive contexts are hidden entirely from profiles 0, 2, 3 and 5 (read → 404, absent
//!   from searches, includes and extracts); the `uniteSensible` flag itself is shown to profile 1
//!   only; MeasureReports (aggregates that count sensitive offers and every capacity) are hidden
//!   from the same profiles;
//! * profile 3 sees a medico-social context as profile 2 and any other context as profile 0
//!   (open data only);
//! * capacity records (`ror-location-supported-capacity`): profile 1 and 4 all, profile 2 those
//!   whose status is not "Exceptionnel" (read as TRE_R330 `06` Supplémentaire, SPEC §5.3),
//!   profile 0 only "installé" (`01`) records, profile 5 none; inside a visible record,
//!   `capacitySourceType`, `genderCapacityAvailable`, `additionalBedType` and `crisisType` are
//!   never shown to profile 0, and `temporaryAssignement` only when it is `01` (aucune);
//! * residential capacity (`ror-location-residential-capacity`) is capacity too: not for 5;
//! * equipment (`ror-location-equipment` with its limits): every profile but 0;
//! * tariffs (`ror-organization-price`) are public;
//! * contacts (`ror-healthcareservice-contact`, `Organization.contact`, every `telecom`) by their
//!   confidentiality level (TRE_R283 `1` accès libre, `2` restreint, `3` très restreint; a
//!   missing or unknown level counts as `3`, a telecom inside a contact inherits the contact's
//!   level): 1 all, 2 and 5 up to `2`, 0 only `1`, 4 none;
//! * professional names and telecom (PractitionerRole `ror-practitionerrole-name` and `telecom`,
//!   Practitioner `name`, `telecom`, `address`, `gender`, `birthDate`, `photo`): 1, 2 and 5; 0
//!   only in a Ville context; 4 never (personal data);
//! * person identifiers (Practitioner `identifier`): 1, 2, 4, 5; 0 only in a Ville context;
//! * the narrative (`text`) and `contained` resources are dropped for every profile but 1, since
//!   they could repeat anything hidden.
//!
//! Coded values are read with the search index's own extraction (the registry's FHIRPath and
//! token keys), so that what a projection shows and what a search can match
//! (`security::guard`) are decided by the same function of the same keys.

use serde_json::Value;

use super::AccessProfile;
use crate::index::extract::{key_any_system, key_system_code, key_system_only, token_keys};
use crate::schema::Registry;

const SD: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/";
pub const EXT_SENSITIVE_UNIT: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-sensitive-unit";
pub const EXT_OFFER_CONTACT: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-contact";
pub const EXT_SUPPORTED_CAPACITY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity";
pub const EXT_EQUIPMENT: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment";
pub const EXT_RESIDENTIAL_CAPACITY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-residential-capacity";
pub const EXT_PRACTITIONER_ROLE_NAME: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-practitionerrole-name";
/// TRE_R227 champ d'activité (HealthcareService.type).
pub const TRE_R227: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite";
/// TRE_R330 capacity status.
pub const TRE_R330: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R330-TypeStatutCapacite/FHIR/TRE-R330-TypeStatutCapacite";
/// TRE_R337 temporary assignment.
pub const TRE_R337: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R337-AffectationTemporaire/FHIR/TRE-R337-AffectationTemporaire";
/// TRE_R283 confidentiality level.
pub const TRE_R283: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R283-NiveauConfidentialite/FHIR/TRE-R283-NiveauConfidentialite";

/// Capacity status "installé".
pub const STATUS_INSTALLED: &str = "01";
/// Capacity status read as "Exceptionnel" (SPEC §5.3: no such code; `06` Supplémentaire).
pub const STATUS_EXCEPTIONAL: &str = "06";
/// Temporary assignment "aucune".
pub const ASSIGNMENT_NONE: &str = "01";

/// Capacity sub-extensions profile 0 never sees.
pub const CAPACITY_DETAILS: [&str; 4] =
    ["capacitySourceType", "genderCapacityAvailable", "additionalBedType", "crisisType"];

/// Record types and parameters of the index that hold the capacity, equipment and residential
/// records (index-schemas/search-parameters.toml `[[record]]`).
pub const CAPACITY_RECORD: &str = "LocationCapacityRecord";
pub const EQUIPMENT_RECORD: &str = "LocationEquipmentRecord";
pub const RESIDENTIAL_RECORD: &str = "LocationResidentialRecord";
pub const PARAM_CAPACITY_STATUS: &str = "capacity-status";
pub const PARAM_ASSIGNMENT: &str = "temporary-assignement";

/// Champ d'activité codes, in bit order.
pub const FIELD_CODES: [&str; 6] = ["01", "02", "03", "04", "05", "06"];
const FIELD_MS: u8 = 1 << 3;
const FIELD_VILLE: u8 = 1 << 4;
/// An offer whose champ is not one of [`FIELD_CODES`].
const FIELD_UNKNOWN: u8 = 1 << 6;

/// The offers a resource concerns, as far as access rules go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OfferContext {
    /// Some offer concerned is sensitive.
    pub sensitive: bool,
    /// Bit `i` = some offer has champ [`FIELD_CODES`]`[i]`; bit 6 = an offer of unknown champ.
    fields: u8,
}

impl OfferContext {
    /// No offer concerned (organizations, orphan locations).
    pub const NONE: OfferContext = OfferContext { sensitive: false, fields: 0 };

    /// One offer with the champs of `field_mask` (bits of [`FIELD_CODES`]).
    pub fn offer(sensitive: bool, field_mask: u8) -> OfferContext {
        let fields = if field_mask & 0x3f == 0 { FIELD_UNKNOWN } else { field_mask & 0x3f };
        OfferContext { sensitive, fields }
    }

    /// The context of several offers: sensitive if any is, champs united.
    pub fn merge(&mut self, other: OfferContext) {
        self.sensitive |= other.sensitive;
        self.fields |= other.fields;
    }

    pub fn has_offers(&self) -> bool {
        self.fields != 0
    }

    /// Every offer concerned is medico-social (and there is one).
    pub fn is_medico_social(&self) -> bool {
        self.fields == FIELD_MS
    }

    /// Every offer concerned is a "Ville" (ambulatory) offer (and there is one).
    pub fn is_ville(&self) -> bool {
        self.fields == FIELD_VILLE
    }

    /// The context of an offer read from its JSON (flag and champ), with the index's keys.
    pub fn of_offer(registry: &Registry, offer: &Value) -> OfferContext {
        let keys = |code: &str| param_keys(registry, "HealthcareService", code, offer);
        let sensitive = is_sensitive_keys(&keys("sensitive-unit"));
        OfferContext::offer(sensitive, field_mask(&keys("service-type")))
    }
}

/// The sensitive-unit token keys of an offer say "true".
pub fn is_sensitive_keys(keys: &[String]) -> bool {
    keys.contains(&key_any_system("true"))
}

/// Champ bits of an offer from its `service-type` token keys (TRE_R227 or no system).
pub fn field_mask(keys: &[String]) -> u8 {
    let mut mask = 0;
    for (bit, code) in FIELD_CODES.iter().enumerate() {
        if keys.contains(&key_system_code(TRE_R227, code)) || keys.contains(&key_system_code("", code)) {
            mask |= 1 << bit;
        }
    }
    mask
}

/// The token keys any of `code`'s postings would hold for `code` in the given system or none.
pub fn code_keys(system: &str, code: &str) -> [String; 2] {
    [key_system_code(system, code), key_system_code("", code)]
}

/// True when `keys` hold `code` (in `system` or without system) and nothing else: every coding
/// is that code. Used for "installé only" and "aucune only", where any other coding would show.
pub fn only_code(keys: &[String], system: &str, code: &str) -> bool {
    let wanted = code_keys(system, code);
    let allowed = [key_any_system(code), wanted[0].clone(), wanted[1].clone(), key_system_only(system)];
    keys.iter().any(|k| wanted.contains(k)) && keys.iter().all(|k| allowed.contains(k))
}

/// True when `keys` hold `code` in `system` or without system.
pub fn has_code(keys: &[String], system: &str, code: &str) -> bool {
    code_keys(system, code).iter().any(|k| keys.contains(k))
}

/// The token keys the index extracts for parameter `code` of `resource_type` on `node`.
pub fn param_keys(registry: &Registry, resource_type: &str, code: &str, node: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(param) = registry.resource(resource_type).and_then(|s| s.param(code)) {
        for value in param.expression.evaluate(node) {
            token_keys(value, &mut keys);
        }
    }
    keys
}

/// What one profile sees in one context: profile 3 is profile 2 in a medico-social context and
/// profile 0 elsewhere; the others do not depend on the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Profile 1: everything.
    All,
    /// Profile 2 (and 3 on medico-social offers): all but very restricted data.
    Restricted,
    /// Profile 0 (and 3 on sanitary offers): open data.
    Open,
    /// Profile 4: all but contact and personal data.
    NoContact,
    /// Profile 5: all but very restricted data and capacity.
    NoCapacity,
}

impl View {
    pub fn of(profile: AccessProfile, context: &OfferContext) -> View {
        match profile {
            AccessProfile::P0 => View::Open,
            AccessProfile::P1 => View::All,
            AccessProfile::P2 => View::Restricted,
            AccessProfile::P3 if context.is_medico_social() => View::Restricted,
            AccessProfile::P3 => View::Open,
            AccessProfile::P4 => View::NoContact,
            AccessProfile::P5 => View::NoCapacity,
        }
    }

    /// A capacity record with these `capacity-status` keys is shown.
    pub fn capacity_record(self, status_keys: &[String]) -> bool {
        match self {
            View::All | View::NoContact => true,
            View::Restricted => !has_code(status_keys, TRE_R330, STATUS_EXCEPTIONAL),
            View::Open => only_code(status_keys, TRE_R330, STATUS_INSTALLED),
            View::NoCapacity => false,
        }
    }

    /// `capacitySourceType`, `genderCapacityAvailable`, `additionalBedType`, `crisisType` of a
    /// shown record are shown.
    pub fn capacity_details(self) -> bool {
        !matches!(self, View::Open | View::NoCapacity)
    }

    /// `temporaryAssignement` of a shown record, with these keys, is shown.
    pub fn temporary_assignment(self, keys: &[String]) -> bool {
        match self {
            View::Open => only_code(keys, TRE_R337, ASSIGNMENT_NONE),
            View::NoCapacity => false,
            _ => true,
        }
    }

    pub fn equipment(self) -> bool {
        self != View::Open
    }

    pub fn residential_capacity(self) -> bool {
        self != View::NoCapacity
    }

    /// Highest confidentiality level of contact data shown; `None`: no contact data at all.
    pub fn max_confidentiality(self) -> Option<u8> {
        match self {
            View::All => Some(3),
            View::Restricted | View::NoCapacity => Some(2),
            View::Open => Some(1),
            View::NoContact => None,
        }
    }

    /// Professional names and telecom are shown.
    pub fn professional_names(self, context: &OfferContext) -> bool {
        match self {
            View::All | View::Restricted | View::NoCapacity => true,
            View::Open => context.is_ville(),
            View::NoContact => false,
        }
    }

    /// Person identifiers (idNat_PS…) are shown.
    pub fn person_identifiers(self, context: &OfferContext) -> bool {
        match self {
            View::Open => context.is_ville(),
            _ => true,
        }
    }
}

/// Profiles to which a sensitive offer does not exist.
pub fn hides_sensitive(profile: AccessProfile) -> bool {
    matches!(profile, AccessProfile::P0 | AccessProfile::P2 | AccessProfile::P3 | AccessProfile::P5)
}

/// Resource types whose every resource is hidden from `profile`: indicator values aggregate
/// sensitive offers and every capacity record.
pub fn hides_type(profile: AccessProfile, resource_type: &str) -> bool {
    resource_type == "MeasureReport" && hides_sensitive(profile)
}

/// Whether a resource of `resource_type` in `context` does not exist for `profile`.
pub fn is_hidden(profile: AccessProfile, resource_type: &str, context: &OfferContext) -> bool {
    hides_type(profile, resource_type) || (context.sensitive && hides_sensitive(profile))
}

/// Project `resource` for `profile` in `context`, in place. Returns false when the resource does
/// not exist for the profile (then `resource` is left unspecified).
pub fn project(
    registry: &Registry,
    profile: AccessProfile,
    context: &OfferContext,
    resource: &mut Value,
) -> bool {
    if profile.is_unrestricted() {
        return true;
    }
    let resource_type = resource.get("resourceType").and_then(Value::as_str).unwrap_or_default().to_owned();
    if is_hidden(profile, &resource_type, context) {
        return false;
    }
    let view = View::of(profile, context);
    let Some(object) = resource.as_object_mut() else { return true };
    object.remove("text");
    object.remove("contained");
    let max_level = view.max_confidentiality();
    // The flag is profile 1's only; every other element of the offer follows the view.
    retain_extensions(object, |extension| url_of(extension) != Some(EXT_SENSITIVE_UNIT));
    match resource_type.as_str() {
        "HealthcareService" => {
            retain_extensions(object, |extension| {
                url_of(extension) != Some(EXT_OFFER_CONTACT) || project_offer_contact(extension, max_level)
            });
            filter_telecom(object, max_level, None);
        }
        "Location" => {
            project_location(registry, view, object);
            filter_telecom(object, max_level, None);
        }
        "Organization" => {
            filter_organization_contacts(object, max_level);
            filter_telecom(object, max_level, None);
        }
        "PractitionerRole" => {
            if view.professional_names(context) {
                filter_telecom(object, max_level, None);
            } else {
                object.remove("telecom");
                retain_extensions(object, |extension| url_of(extension) != Some(EXT_PRACTITIONER_ROLE_NAME));
            }
        }
        "Practitioner" => {
            if view.professional_names(context) {
                filter_telecom(object, max_level, None);
            } else {
                for element in ["name", "telecom", "address", "gender", "birthDate", "photo"] {
                    object.remove(element);
                }
            }
            if !view.person_identifiers(context) {
                object.remove("identifier");
            }
        }
        _ => filter_telecom(object, max_level, None),
    }
    true
}

fn url_of(extension: &Value) -> Option<&str> {
    extension.get("url").and_then(Value::as_str)
}

/// Keep the top-level extensions `keep` accepts (the ones the index's record selectors see).
fn retain_extensions(object: &mut serde_json::Map<String, Value>, mut keep: impl FnMut(&mut Value) -> bool) {
    let Some(Value::Array(extensions)) = object.get_mut("extension") else { return };
    extensions.retain_mut(|extension| keep(extension));
    if extensions.is_empty() {
        object.remove("extension");
    }
}

/// Remove the sub-extensions of `extension` whose url is `url`.
fn remove_sub_extension(extension: &mut Value, url: &str) {
    if let Some(Value::Array(parts)) = extension.get_mut("extension") {
        parts.retain(|part| url_of(part) != Some(url));
    }
}

fn project_location(registry: &Registry, view: View, object: &mut serde_json::Map<String, Value>) {
    retain_extensions(object, |extension| match url_of(extension) {
        Some(EXT_SUPPORTED_CAPACITY) => {
            let status = param_keys(registry, CAPACITY_RECORD, PARAM_CAPACITY_STATUS, extension);
            if !view.capacity_record(&status) {
                return false;
            }
            if !view.capacity_details() {
                for detail in CAPACITY_DETAILS {
                    remove_sub_extension(extension, detail);
                }
            }
            let assignment = param_keys(registry, CAPACITY_RECORD, PARAM_ASSIGNMENT, extension);
            if !view.temporary_assignment(&assignment) {
                remove_sub_extension(extension, "temporaryAssignement");
            }
            true
        }
        Some(EXT_EQUIPMENT) => view.equipment(),
        Some(EXT_RESIDENTIAL_CAPACITY) => view.residential_capacity(),
        _ => true,
    });
}

/// Confidentiality level given by the `…confidentiality-level` extensions in `extensions`
/// (the highest when several), `None` when there is none.
fn declared_level(extensions: Option<&Value>) -> Option<u8> {
    let mut level: Option<u8> = None;
    for extension in extensions.and_then(Value::as_array).into_iter().flatten() {
        if !url_of(extension).is_some_and(|u| u.ends_with("confidentiality-level")) {
            continue;
        }
        let mut codes = Vec::new();
        if let Some(concept) = extension.get("valueCodeableConcept") {
            for coding in concept.get("coding").and_then(Value::as_array).into_iter().flatten() {
                codes.push(coding.get("code").and_then(Value::as_str));
            }
        }
        if let Some(coding) = extension.get("valueCoding") {
            codes.push(coding.get("code").and_then(Value::as_str));
        }
        for key in ["valueCode", "valueString"] {
            if let Some(code) = extension.get(key) {
                codes.push(code.as_str());
            }
        }
        // An extension whose level cannot be read is very restricted.
        let found = codes
            .into_iter()
            .map(|code| match code {
                Some("1") => 1,
                Some("2") => 2,
                _ => 3,
            })
            .max()
            .unwrap_or(3);
        level = Some(level.map_or(found, |l| l.max(found)));
    }
    level
}

fn level_allowed(level: u8, max_level: Option<u8>) -> bool {
    max_level.is_some_and(|max| level <= max)
}

/// Filter a `telecom` list by each ContactPoint's level (`inherited` when it declares none).
fn filter_telecom(object: &mut serde_json::Map<String, Value>, max_level: Option<u8>, inherited: Option<u8>) {
    let Some(Value::Array(points)) = object.get_mut("telecom") else {
        // Not a list (malformed): no level can be read, so nothing of it is shown.
        object.remove("telecom");
        return;
    };
    points.retain(|point| {
        let level = declared_level(point.get("extension")).or(inherited).unwrap_or(3);
        level_allowed(level, max_level)
    });
    if points.is_empty() {
        object.remove("telecom");
    }
}

/// Keep an offer contact (`ror-healthcareservice-contact`) if its level is allowed, with only
/// the allowed telecoms inside.
fn project_offer_contact(contact: &mut Value, max_level: Option<u8>) -> bool {
    let level = declared_level(contact.get("extension")).unwrap_or(3);
    if !level_allowed(level, max_level) {
        return false;
    }
    if let Some(Value::Array(parts)) = contact.get_mut("extension") {
        parts.retain(|part| {
            let is_telecom =
                url_of(part).is_some_and(|u| u.starts_with(SD) && u.ends_with("-contact-telecom"));
            !is_telecom || level_allowed(declared_level(part.get("extension")).unwrap_or(level), max_level)
        });
    }
    true
}

fn filter_organization_contacts(object: &mut serde_json::Map<String, Value>, max_level: Option<u8>) {
    let Some(Value::Array(contacts)) = object.get_mut("contact") else {
        object.remove("contact");
        return;
    };
    contacts.retain_mut(|contact| {
        let level = declared_level(contact.get("extension")).unwrap_or(3);
        if !level_allowed(level, max_level) {
            return false;
        }
        if let Some(contact) = contact.as_object_mut() {
            filter_telecom(contact, max_level, Some(level));
        }
        true
    });
    if contacts.is_empty() {
        object.remove("contact");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn registry() -> Registry {
        Registry::embedded().expect("registry")
    }

    fn concept(system: &str, code: &str) -> Value {
        json!({"coding": [{"system": system, "code": code}]})
    }

    fn capacity(status: &str, assignment: &str) -> Value {
        json!({"url": EXT_SUPPORTED_CAPACITY, "extension": [
            {"url": "capacityStatus", "valueCodeableConcept": concept(TRE_R330, status)},
            {"url": "nbCapacity", "valueInteger": 3},
            {"url": "genderCapacityAvailable", "valueCodeableConcept": concept("x", "01")},
            {"url": "temporaryAssignement", "valueCodeableConcept": concept(TRE_R337, assignment)}
        ]})
    }

    fn location() -> Value {
        json!({"resourceType": "Location", "id": "l", "text": {"div": "x"},
            "extension": [capacity("01", "01"), capacity("01", "02"), capacity("02", "01"), capacity("06", "01"),
                {"url": EXT_EQUIPMENT, "extension": []}]})
    }

    fn statuses(resource: &Value) -> Vec<String> {
        resource["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["url"] == EXT_SUPPORTED_CAPACITY)
            .map(|e| {
                e["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn test_capacity_by_profile() {
        let registry = registry();
        let ms = OfferContext::offer(false, FIELD_MS);
        let mco = OfferContext::offer(false, 1);
        let cases = [
            (AccessProfile::P1, mco, vec!["01", "01", "02", "06"]),
            (AccessProfile::P4, mco, vec!["01", "01", "02", "06"]),
            (AccessProfile::P2, mco, vec!["01", "01", "02"]),
            (AccessProfile::P3, ms, vec!["01", "01", "02"]),
            (AccessProfile::P3, mco, vec!["01", "01"]),
            (AccessProfile::P0, ms, vec!["01", "01"]),
            (AccessProfile::P5, ms, vec![]),
        ];
        for (profile, context, expected) in cases {
            let mut resource = location();
            assert!(project(&registry, profile, &context, &mut resource));
            assert_eq!(statuses(&resource), expected, "{profile:?}");
        }
        let mut open = location();
        project(&registry, AccessProfile::P0, &ms, &mut open);
        let text = open.to_string();
        assert!(!text.contains("genderCapacityAvailable") && !text.contains(EXT_EQUIPMENT));
        assert_eq!(text.matches("temporaryAssignement").count(), 1, "only the 'aucune' one: {text}");
        assert!(open.get("text").is_none());
    }

    #[test]
    fn test_only_code_rejects_mixed_codings() {
        let mut keys = Vec::new();
        token_keys(
            &json!({"coding": [{"system": TRE_R330, "code": "01"}, {"system": TRE_R330, "code": "02"}]}),
            &mut keys,
        );
        assert!(!only_code(&keys, TRE_R330, "01"));
        let mut plain = Vec::new();
        token_keys(&json!("01"), &mut plain);
        assert!(only_code(&plain, TRE_R330, "01"));
    }

    #[test]
    fn test_context_combination_is_conservative() {
        let mut context = OfferContext::offer(false, FIELD_MS);
        assert!(context.is_medico_social());
        context.merge(OfferContext::offer(false, 1));
        assert!(!context.is_medico_social() && !context.sensitive);
        context.merge(OfferContext::offer(true, FIELD_MS));
        assert!(context.sensitive);
        assert!(!OfferContext::NONE.is_medico_social() && !OfferContext::NONE.is_ville());
        assert!(!OfferContext::offer(false, 0).is_ville());
    }

    #[test]
    fn test_contacts_by_level() {
        let registry = registry();
        let level = |code: &str| json!({"url": format!("{SD}ror-telecom-confidentiality-level"), "valueCodeableConcept": concept(TRE_R283, code)});
        let organization = json!({"resourceType": "Organization", "id": "o",
            "telecom": [{"value": "t1", "extension": [level("1")]}, {"value": "t2", "extension": [level("2")]},
                        {"value": "t3", "extension": [level("3")]}, {"value": "none"}],
            "contact": [{"extension": [level("2")], "telecom": [{"value": "c2"}]}]});
        let shown = |profile| {
            let mut resource = organization.clone();
            project(&registry, profile, &OfferContext::NONE, &mut resource);
            let text = resource.to_string();
            ["t1", "t2", "t3", "none", "c2"]
                .into_iter()
                .filter(|v| text.contains(&format!("\"{v}\"")))
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(AccessProfile::P1), vec!["t1", "t2", "t3", "none", "c2"]);
        assert_eq!(shown(AccessProfile::P2), vec!["t1", "t2", "c2"]);
        assert_eq!(shown(AccessProfile::P5), vec!["t1", "t2", "c2"]);
        assert_eq!(shown(AccessProfile::P0), vec!["t1"]);
        assert_eq!(shown(AccessProfile::P3), vec!["t1"]);
        assert!(shown(AccessProfile::P4).is_empty());
    }

    #[test]
    fn test_sensitive_offer_hidden_and_flag_for_profile_one_only() {
        let registry = registry();
        let offer = json!({"resourceType": "HealthcareService", "id": "h",
            "extension": [{"url": EXT_SENSITIVE_UNIT, "valueBoolean": true}],
            "type": [concept(TRE_R227, "03")]});
        let context = OfferContext::of_offer(&registry, &offer);
        assert!(context.sensitive);
        for profile in [AccessProfile::P0, AccessProfile::P2, AccessProfile::P3, AccessProfile::P5] {
            assert!(!project(&registry, profile, &context, &mut offer.clone()), "{profile:?}");
        }
        let mut p4 = offer.clone();
        assert!(project(&registry, AccessProfile::P4, &context, &mut p4));
        assert!(p4.get("extension").is_none());
        let mut p1 = offer.clone();
        assert!(project(&registry, AccessProfile::P1, &context, &mut p1));
        assert_eq!(p1, offer);
    }

    #[test]
    fn test_practitioner_names_and_identifiers() {
        let registry = registry();
        let practitioner = json!({"resourceType": "Practitioner", "id": "p", "name": [{"family": "X"}],
            "identifier": [{"value": "8001"}], "telecom": [{"value": "06"}]});
        let ville = OfferContext::offer(false, FIELD_VILLE);
        let mco = OfferContext::offer(false, 1);
        let project_as = |profile, context: &OfferContext| {
            let mut resource = practitioner.clone();
            project(&registry, profile, context, &mut resource);
            (resource.get("name").is_some(), resource.get("identifier").is_some())
        };
        assert_eq!(project_as(AccessProfile::P0, &ville), (true, true));
        assert_eq!(project_as(AccessProfile::P0, &mco), (false, false));
        assert_eq!(project_as(AccessProfile::P3, &ville), (true, true));
        assert_eq!(project_as(AccessProfile::P3, &OfferContext::offer(false, FIELD_MS)), (true, true));
        assert_eq!(project_as(AccessProfile::P4, &mco), (false, true));
        assert_eq!(project_as(AccessProfile::P2, &mco), (true, true));
        assert_eq!(project_as(AccessProfile::P5, &mco), (true, true));
    }
}
