//! FHIR `OperationOutcome` construction.

use serde_json::{json, Value};

use crate::error::IssueCode;

pub fn operation_outcome(
    severity: &str,
    code: IssueCode,
    diagnostics: &str,
    expression: Option<&str>,
) -> Value {
    let mut issue = json!({
        "severity": severity,
        "code": code.as_str(),
        "diagnostics": diagnostics,
    });
    if let (Some(expression), Some(object)) = (expression, issue.as_object_mut()) {
        object.insert("expression".into(), json!([expression]));
    }
    json!({ "resourceType": "OperationOutcome", "issue": [issue] })
}

/// An informational or warning issue, as carried inside a searchset Bundle (`search.mode = outcome`).
pub fn issue(severity: &str, code: IssueCode, diagnostics: &str, expression: Option<&str>) -> Value {
    let mut issue = json!({ "severity": severity, "code": code.as_str(), "diagnostics": diagnostics });
    if let (Some(expression), Some(object)) = (expression, issue.as_object_mut()) {
        object.insert("expression".into(), json!([expression]));
    }
    issue
}
