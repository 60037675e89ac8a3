//! The CapabilityStatement actually served, generated from the parameter registry (never written
//! by hand a second time).

use serde_json::{json, Value};

use crate::schema::{ParamType, Registry};

pub fn capability_statement(registry: &Registry, base_url: &str) -> Value {
    let mut resources = Vec::new();
    for schema in registry.resources.iter().filter(|r| r.record.is_none()) {
        let mut params: Vec<Value> = schema
            .params
            .iter()
            .map(|p| {
                let mut documentation = p.doc.clone();
                if let Some(note) = &p.note {
                    documentation.push_str(" — ");
                    documentation.push_str(note);
                }
                if !p.aliases.is_empty() {
                    documentation.push_str(&format!(" (aliases: {})", p.aliases.join(", ")));
                }
                let fhir_type = match p.param_type {
                    ParamType::Special => "special",
                    other => other.as_str(),
                };
                json!({ "name": p.code, "type": fhir_type, "documentation": documentation })
            })
            .collect();
        if schema.content {
            params.push(json!({"name": "_content", "type": "string", "documentation": "Full text (French stemming, accent folding, prefix of stemmed words; entry.search.score in 0-1)"}));
        }
        params.push(json!({"name": "_filter", "type": "special", "documentation": "FHIR _filter subset with the ROR loose forms (see README)"}));
        params.push(json!({"name": "_has", "type": "special", "documentation": "Reverse chaining _has:Type:reference:parameter"}));
        let includes: Vec<String> =
            schema.reference_params().map(|p| format!("{}:{}", schema.resource_type, p.code)).collect();
        let revincludes: Vec<String> = registry
            .resources
            .iter()
            .filter(|source| source.record.is_none())
            .flat_map(|source| {
                source
                    .reference_params()
                    .filter(|p| p.targets.contains(&schema.resource_type))
                    .map(move |p| format!("{}:{}", source.resource_type, p.code))
            })
            .collect();
        resources.push(json!({
            "type": schema.resource_type,
            "interaction": [
                {"code": "read"}, {"code": "vread"}, {"code": "search-type"},
                {"code": "create"}, {"code": "update"}, {"code": "delete"}
            ],
            "versioning": "versioned",
            "readHistory": true,
            "updateCreate": true,
            "searchInclude": includes,
            "searchRevInclude": revincludes,
            "searchParam": params,
        }));
    }
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": chrono::Utc::now().format("%Y-%m-%d").to_string(),
        "kind": "instance",
        "software": {"name": "ror-search", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "ror-search: ROR FHIR R4 search service", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            // SPEC §5.1: OAuth bearer tokens and mutual TLS; no CORS.
            "security": {
                "cors": false,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "OAuth"
                }]}],
                "description": "Mutual TLS (client certificate mapped to a consumer and its ROR access profile 0-5) or an OAuth2 bearer JWT (RS256/ES256); the four Ror-* headers when configured. Results are projected per access profile."
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "searchParam": [
                {"name": "_count", "type": "number", "documentation": "Page size, default 200, max 1000"},
                {"name": "_sort", "type": "string", "documentation": "Sort keys, - for descending, chained form allowed"},
                {"name": "_include", "type": "string"},
                {"name": "_revinclude", "type": "string"},
                {"name": "_elements", "type": "string"},
                {"name": "_summary", "type": "token", "documentation": "count"},
                {"name": "_matching", "type": "token", "documentation": "independent (default, as the national server): each capacity, equipment and tariff criterion may hold on a different record; record: all criteria on the capacity records (equipment, tariffs) of one resource must hold on the same record, and chained criteria through one reference on the same resource"}
            ]
        }]
    })
}
