//! Query string → raw FHIR search parameters, before any schema knowledge.
//!
//! FHIR puts two layers of syntax in a search value: the URL layer (`&`, `=`, `+`, `%XX`) and the
//! FHIR layer, where a backslash escapes `,` (OR separator), `|` (token/quantity separator),
//! `$` (composite separator) and itself. The layers are undone in this order, and each escape is
//! resolved at exactly one stage so that no stage can see a separator that an earlier stage made
//! out of an escape:
//!
//! 1. [`parse_query_string`] splits on `&`, splits each pair at its first `=`, turns `+` into a
//!    space, percent-decodes name and value and checks UTF-8. No FHIR escape is touched:
//!    `%5C%2C` becomes the two characters backslash-comma, still an escaped comma.
//! 2. [`parse_query_string`] splits the value on unescaped `,` into [`RawParam::values`] (OR),
//!    resolving backslash-comma to a comma. Backslash-pipe, backslash-dollar and double
//!    backslash are left as they are.
//! 3. The typed parsers of `value.rs` (tokens, quantities, `near`) split one OR alternative on
//!    unescaped `|` with [`split_unescaped`] (resolving backslash-pipe), then [`unescape`] each
//!    part (resolving backslash-dollar, double backslash and any leftover escape).
//!    Parameters without `|` structure (string, uri, reference) [`unescape`] the whole
//!    alternative instead.
//!
//! A backslash escapes the character after it, so `a\\,b` is `a\` OR `b`: the comma follows an
//! escaped backslash, not an escaping one. A backslash before any other character, and a
//! trailing lone backslash, are kept literally (lenient).
//!
//! The input is what `HttpRequest::query_string()` returns (no leading `?`), or a POST
//! `_search` body (`application/x-www-form-urlencoded`, same syntax). Repeated names are kept
//! as separate [`RawParam`]s in input order: FHIR reads them as AND. Empty pairs (`a=1&&b=2`,
//! trailing `&`) are skipped; a pair without `=` has the value `""`, which yields one empty
//! alternative. Empty alternatives (`_id=1,,2`) are kept: whether they are an error depends on the
//! parameter type, which this module does not know. [`UNSPLIT_PARAMETERS`] (`_filter`) skip
//! stage 2: their one value is the whole decoded text, escapes untouched.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Parameters whose value is one expression, never an OR list: a comma in
/// `_filter=(name eq "a,b")` belongs to the expression. Their single value is only
/// percent-decoded (stage 1), with every backslash kept.
pub const UNSPLIT_PARAMETERS: [&str; 1] = ["_filter"];

/// One `name=value` pair of the query string, before any schema knowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawParam {
    /// Percent-decoded full name, with its modifier and chain, e.g.
    /// `organization.identifier:above`, `_has:PractitionerRole:service:practitioner.identifier`,
    /// `_include:iterate`.
    pub name: String,
    /// The OR alternatives of the value (split on unescaped `,`, `\,` resolved). `\|`, `\$` and
    /// `\\` are still escaped: see the module doc.
    pub values: Vec<String>,
}

/// A query string that cannot be read as FHIR search parameters.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// A `%` not followed by two hexadecimal digits.
    #[error("invalid percent-encoding in parameter {param:?}: {sequence:?}")]
    InvalidPercentEncoding {
        /// The parameter name as written (not decoded when the name itself is at fault).
        param: String,
        /// The offending sequence, e.g. `%G1`.
        sequence: String,
    },
    /// Percent-decoding produced bytes that are not UTF-8.
    #[error("invalid utf-8 after percent-decoding in parameter {param:?}: {raw:?}")]
    InvalidUtf8 {
        /// The parameter name (lossily decoded when the name itself is at fault).
        param: String,
        /// The name or value as written in the query string, still percent-encoded.
        raw: String,
    },
    /// A pair such as `=value` whose name is empty.
    #[error("parameter with an empty name: {pair:?}")]
    EmptyName {
        /// The pair as written in the query string.
        pair: String,
    },
}

/// Splits a query string (or a form-encoded POST `_search` body) into raw parameters.
///
/// See the module doc for what is decoded at this stage and what is left escaped.
pub fn parse_query_string(qs: &str) -> Result<Vec<RawParam>, ParamError> {
    let mut params = Vec::new();
    for pair in qs.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        if raw_name.is_empty() {
            return Err(ParamError::EmptyName { pair: pair.to_owned() });
        }
        let name = form_decode(raw_name, raw_name)?;
        let value = form_decode(raw_value, &name)?;
        let values = if UNSPLIT_PARAMETERS.contains(&name.as_str()) {
            vec![value]
        } else {
            split_unescaped(&value, ',')
        };
        params.push(RawParam { name, values });
    }
    Ok(params)
}

/// Decodes one `application/x-www-form-urlencoded` component; `param` names it in errors.
fn form_decode(raw: &str, param: &str) -> Result<String, ParamError> {
    // `+` must become a space before percent-decoding, so that `%2B` stays a literal plus.
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes().iter().copied();
    while let Some(byte) = rest.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = rest.clone().next();
                let low = rest.clone().nth(1);
                match (high.and_then(hex_digit), low.and_then(hex_digit)) {
                    (Some(high_nibble), Some(low_nibble)) => {
                        bytes.push((high_nibble << 4) | low_nibble);
                        rest.nth(1);
                    }
                    _ => {
                        return Err(ParamError::InvalidPercentEncoding {
                            param: param.to_owned(),
                            sequence: bad_percent_sequence(raw, bytes_consumed(raw, &rest)),
                        })
                    }
                }
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| ParamError::InvalidUtf8 { param: param.to_owned(), raw: raw.to_owned() })
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).and_then(|digit| u8::try_from(digit).ok())
}

/// Byte offset just after the `%` that the iterator has consumed.
fn bytes_consumed(raw: &str, rest: &impl ExactSizeIterator) -> usize {
    raw.len().saturating_sub(rest.len())
}

/// The `%` and up to two following characters, for the error message. Works on chars because
/// the bytes after `%` may start a multi-byte character.
fn bad_percent_sequence(raw: &str, after_percent: usize) -> String {
    let percent_at = after_percent.saturating_sub(1);
    raw.get(percent_at..).map(|tail| tail.chars().take(3).collect()).unwrap_or_else(|| "%".to_owned())
}

/// Splits `value` on every `sep` not escaped by a backslash, resolving `\sep` to `sep`.
///
/// Other backslash sequences (including `\\`) are kept verbatim so that a later stage can still
/// tell an escaped separator from a literal one. Always returns at least one part.
pub fn split_unescaped(value: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(escaped) if escaped == sep => current.push(sep),
                Some(escaped) => {
                    current.push('\\');
                    current.push(escaped);
                }
                None => current.push('\\'),
            }
        } else if c == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

/// Resolves the FHIR escapes `\,` `\|` `\$` `\\`; any other backslash is kept literally.
pub fn unescape(value: &str) -> String {
    let mut unescaped = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            unescaped.push(c);
            continue;
        }
        match chars.next() {
            Some(escaped @ (',' | '|' | '$' | '\\')) => unescaped.push(escaped),
            Some(other) => {
                unescaped.push('\\');
                unescaped.push(other);
            }
            None => unescaped.push('\\'),
        }
    }
    unescaped
}

/// Escapes `\` `,` `|` `$` so that the value survives [`split_unescaped`] and [`unescape`]
/// unchanged; used to rebuild query strings (`self` and `next` links).
pub fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '|' | '$') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Everything but the unreserved characters and a few that are legal in a query component and
/// common in FHIR values (`:` `/` `,` `$` `@` `!` `*` `(` `)` `?`). `|` is encoded: it is not
/// legal in a URI even though servers tolerate it.
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'/')
    .remove(b',')
    .remove(b'$')
    .remove(b'@')
    .remove(b'!')
    .remove(b'*')
    .remove(b'(')
    .remove(b')')
    .remove(b'?');

/// Builds a query string from `(name, value)` pairs, percent-encoding both.
///
/// Values are written as given: a caller that holds unescaped alternatives joins
/// `escape(alternative)` with `,` first. `parse_query_string(&encode_query(pairs))` gives the
/// pairs back (values split on unescaped `,`).
pub fn encode_query(params: &[(String, String)]) -> String {
    let mut query = String::new();
    for (index, (name, value)) in params.iter().enumerate() {
        if index > 0 {
            query.push('&');
        }
        // Writing to a String cannot fail.
        let _ = write!(
            query,
            "{}={}",
            percent_encoding::utf8_percent_encode(name, QUERY_COMPONENT),
            percent_encoding::utf8_percent_encode(value, QUERY_COMPONENT)
        );
    }
    query
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn raw(name: &str, values: &[&str]) -> RawParam {
        RawParam { name: name.to_owned(), values: values.iter().map(|value| (*value).to_owned()).collect() }
    }

    fn parse_ok(qs: &str) -> Vec<RawParam> {
        match parse_query_string(qs) {
            Ok(params) => params,
            Err(error) => panic!("{qs:?} did not parse: {error}"),
        }
    }

    #[test]
    fn test_repeated_name_is_and_and_comma_is_or() {
        assert_eq!(
            parse_ok("characteristic=R213|46&characteristic=R245|24&_id=140,141"),
            vec![
                raw("characteristic", &["R213|46"]),
                raw("characteristic", &["R245|24"]),
                raw("_id", &["140", "141"]),
            ]
        );
    }

    #[test]
    fn test_empty_pairs_skipped_and_missing_equals_gives_empty_value() {
        assert_eq!(parse_ok("&&a=1&&_summary&"), vec![raw("a", &["1"]), raw("_summary", &[""])]);
        assert_eq!(parse_ok(""), vec![]);
        assert_eq!(parse_ok("a="), vec![raw("a", &[""])]);
        assert_eq!(parse_ok("_id=1,,2"), vec![raw("_id", &["1", "", "2"])]);
    }

    #[test]
    fn test_only_first_equals_splits() {
        assert_eq!(
            parse_ok("_typeFilter=HealthcareService%3F_tag%3Dx=y"),
            vec![raw("_typeFilter", &["HealthcareService?_tag=x=y"])]
        );
    }

    #[test]
    fn test_plus_is_space_and_encoded_plus_is_plus() {
        assert_eq!(
            parse_ok("name=centre+hospitalier&x=a%2Bb"),
            vec![raw("name", &["centre hospitalier"]), raw("x", &["a+b"])]
        );
    }

    #[test]
    fn test_names_are_percent_decoded() {
        assert_eq!(
            parse_ok("organization.identifier%3Aabove=1290004324&_include%3Aiterate=Organization%3Apartof"),
            vec![
                raw("organization.identifier:above", &["1290004324"]),
                raw("_include:iterate", &["Organization:partof"]),
            ]
        );
    }

    #[test]
    fn test_escaped_comma_is_resolved_other_escapes_kept() {
        assert_eq!(
            parse_ok(r"a=x\,y,z&b=s\|c|d&c=p\$q&d=e\\,f"),
            vec![
                raw("a", &["x,y", "z"]),
                raw("b", &[r"s\|c|d"]),
                raw("c", &[r"p\$q"]),
                raw("d", &[r"e\\", "f"]),
            ]
        );
    }

    #[test]
    fn test_filter_value_is_not_split_on_commas() {
        assert_eq!(
            parse_ok(r#"_filter=(name eq "a,b\,c" or _id eq 1)&_id=1,2"#),
            vec![raw("_filter", &[r#"(name eq "a,b\,c" or _id eq 1)"#]), raw("_id", &["1", "2"]),]
        );
    }

    #[test]
    fn test_percent_encoded_backslash_still_escapes() {
        assert_eq!(parse_ok("a=x%5C%2Cy"), vec![raw("a", &["x,y"])]);
    }

    #[test]
    fn test_utf8_values() {
        assert_eq!(
            parse_ok("address-city=Saint-%C3%89tienne&name=h%C3%B4pital"),
            vec![raw("address-city", &["Saint-Étienne"]), raw("name", &["hôpital"])]
        );
        // Raw non-ASCII (a client that did not encode) is accepted as is.
        assert_eq!(parse_ok("name=hôpital"), vec![raw("name", &["hôpital"])]);
    }

    #[test]
    fn test_invalid_percent_encoding_error() {
        let error = parse_query_string("_count=%G1").err();
        assert_eq!(
            error,
            Some(ParamError::InvalidPercentEncoding {
                param: "_count".to_owned(),
                sequence: "%G1".to_owned()
            })
        );
        assert_eq!(
            error.map(|error| error.to_string()),
            Some(r#"invalid percent-encoding in parameter "_count": "%G1""#.to_owned())
        );
        assert_eq!(
            parse_query_string("name=ab%").err().map(|error| error.to_string()),
            Some(r#"invalid percent-encoding in parameter "name": "%""#.to_owned())
        );
        assert_eq!(
            parse_query_string("name=a%4é").err().map(|error| error.to_string()),
            Some(r#"invalid percent-encoding in parameter "name": "%4é""#.to_owned())
        );
        assert_eq!(
            parse_query_string("na%zme=1").err().map(|error| error.to_string()),
            Some(r#"invalid percent-encoding in parameter "na%zme": "%zm""#.to_owned())
        );
    }

    #[test]
    fn test_invalid_utf8_error() {
        let error = parse_query_string("a=1&name=%C3%28").err();
        assert_eq!(
            error.map(|error| error.to_string()),
            Some(r#"invalid utf-8 after percent-decoding in parameter "name": "%C3%28""#.to_owned())
        );
    }

    #[test]
    fn test_empty_name_error() {
        assert_eq!(
            parse_query_string("a=1&=oops").err().map(|error| error.to_string()),
            Some(r#"parameter with an empty name: "=oops""#.to_owned())
        );
    }

    #[test]
    fn test_split_unescaped() {
        assert_eq!(split_unescaped("", ','), vec![""]);
        assert_eq!(split_unescaped("a|b|c", '|'), vec!["a", "b", "c"]);
        assert_eq!(split_unescaped(r"a\|b|c", '|'), vec!["a|b", "c"]);
        assert_eq!(split_unescaped(r"a\\|b", '|'), vec![r"a\\", "b"]);
        assert_eq!(split_unescaped(r"a\$b\,c|", '|'), vec![r"a\$b\,c", ""]);
        assert_eq!(split_unescaped("trailing\\", ','), vec!["trailing\\"]);
    }

    #[test]
    fn test_unescape() {
        assert_eq!(unescape(r"a\,b\|c\$d\\e"), r"a,b|c$d\e");
        assert_eq!(unescape(r"keep\n and \"), r"keep\n and \");
        assert_eq!(unescape(r"\\\|"), r"\|");
    }

    #[test]
    fn test_escape() {
        assert_eq!(escape(r"a,b|c$d\e"), r"a\,b\|c\$d\\e");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn test_staged_unescaping_of_a_token() {
        // A code containing a pipe, in a list of two alternatives.
        let params = parse_ok(r"identifier=sys|a\|b,sys|c");
        let alternatives = params.first().map(|param| param.values.clone());
        assert_eq!(alternatives, Some(vec![r"sys|a\|b".to_owned(), "sys|c".to_owned()]));
        let parts: Vec<String> =
            split_unescaped(r"sys|a\|b", '|').iter().map(|part| unescape(part)).collect();
        assert_eq!(parts, vec!["sys", "a|b"]);
    }

    #[test]
    fn test_encode_query() {
        let pairs = vec![
            (
                "_tag".to_owned(),
                "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM|52".to_owned(),
            ),
            ("name".to_owned(), "a b&c=d+é".to_owned()),
            ("_include:iterate".to_owned(), "Organization:partof".to_owned()),
        ];
        let query = encode_query(&pairs);
        assert_eq!(
            query,
            "_tag=https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM%7C52\
             &name=a%20b%26c%3Dd%2B%C3%A9&_include:iterate=Organization:partof"
        );
        let parsed: Vec<(String, String)> =
            parse_ok(&query).into_iter().map(|param| (param.name, param.values.join(","))).collect();
        assert_eq!(parsed, pairs);
    }

    #[test]
    fn test_spec_requests_parse() {
        let requests = [
            "_revinclude=HealthcareService:location",
            "_filter=(address-postalcode eq \"22\" or \"29\" or \"35\" or \"36\")&_revinclude=HealthcareService:location",
            "address-postalcode=35,22,29,56&_revinclude=HealthcareService:location",
            "_tag=52&_revinclude=HealthcareService:location",
            "identifier=52/192675&_revinclude=HealthcareService:location",
            "_has:HealthcareService:location:identifier=UE1,UE2,UE3&_revinclude=HealthcareService:location",
            "_lastUpdated=ge2022-11-06T15:00&_revinclude=HealthcareService:location",
            "_include=HealthcareService:organization&_include:iterate=Organization:partof&_include=HealthcareService:location&_revinclude=PractitionerRole:service&_include=PractitionerRole:practitioner",
            "_outputFormat=application/fhir+ndjson&_type=HealthcareService&_typeFilter=HealthcareService%3F_tag%3Dhttps%3A%2F%2Fmos.esante.gouv.fr%2FNOS%2FTRE_R30-RegionOM%2FFHIR%2FTRE-R30-RegionOM%7C11&includeAssociatedData=_myCompleteExtract",
            "organization.identifier%3Aabove=1290004324&_include=HealthcareService%3Alocation&_revinclude=PractitionerRole%3Aservice&_include=PractitionerRole%3Apractitioner&_include=HealthcareService%3Aorganization&_include%3Aiterate=Organization%3Apartof",
            "organization._lastUpdated:above=ge2022-11-06T15:00&organization.type=https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE_R66-CategorieEtablissement|XXX",
            "organization:above._lastUpdated=ge2022-11-06T15:00&organization.type=%20https://x|XXX",
            "_filter=(_lastUpdated ge 2022-11-06T15:00 or organization._lastUpdated:above ge 2022-11-06T15:00)&_revinclude=Organization:healthcareservice",
            "_tag=https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM|XX&_elements=identifier",
            "specialty=R211|013&location.near-insee-code=44162|15|km",
            "specialty=R211|013&location.near=47.21827323906432|-1.6369631507460436|15|km&_revincluded=PractitionerRole:service",
            "location.commune-cog=R13|18000,13013&specialty=R211|437&characteristic=R213|032",
            "_has:PractitionerRole:service:practitioner.identifier=XXX",
            "location.nb-capacity=gt0&location.limit-value=ge200|http://unitsofmeasure.org|kg",
            "organization.price-amount-value=ltXR&_sort=-organization.price-validity-start-date&_include=Healthcareservice:location",
            "_content=cardio",
            "focus:HealthcareService:_tag=https://x|XXX",
            "_has:MeasureReport:measure:date=eq2023-10-06T15:00&_revinclude=MeasureReport:measure",
        ];
        for request in requests {
            assert!(parse_query_string(request).is_ok(), "{request}");
        }
        assert_eq!(
            parse_ok("organization:above._lastUpdated=ge2022-11-06T15:00&organization.type=%20https://x|XXX"),
            vec![
                raw("organization:above._lastUpdated", &["ge2022-11-06T15:00"]),
                raw("organization.type", &[" https://x|XXX"]),
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(512)
        ))]

        #[test]
        fn test_proptest_parse_query_string_never_panics(qs in ".{0,200}") {
            let _ = parse_query_string(&qs);
        }

        #[test]
        fn test_proptest_parse_query_string_url_alphabet_never_panics(
            qs in r"([a-z_:.%&=+,|$\\]|%[0-9A-Fa-f]{2}|%[C-F][0-9A-F]%[89AB][0-9A-F]){0,60}"
        ) {
            if let Ok(params) = parse_query_string(&qs) {
                for param in params {
                    prop_assert!(!param.values.is_empty());
                }
            }
        }

        #[test]
        fn test_proptest_split_and_unescape_never_panic(value in ".{0,100}", sep in any::<char>()) {
            let parts = split_unescaped(&value, sep);
            prop_assert!(!parts.is_empty());
            let _ = unescape(&value);
        }

        #[test]
        fn test_proptest_escape_round_trips(value in r"([a-z|,$\\ é]){0,30}") {
            let parts = split_unescaped(&escape(&value), ',');
            prop_assert_eq!(parts.len(), 1);
            let unescaped: Vec<String> = parts.iter().map(|part| unescape(part)).collect();
            prop_assert_eq!(unescaped, vec![value.clone()]);
            for sep in ['|', '$', ','] {
                let parts = split_unescaped(&escape(&value), sep);
                prop_assert_eq!(parts.iter().map(|part| unescape(part)).collect::<Vec<_>>(), vec![value.clone()]);
            }
        }

        #[test]
        fn test_proptest_escaped_list_round_trips_through_query_string(
            name in r"[a-zA-Z_:.\-&=+% ]{1,20}",
            alternatives in proptest::collection::vec(".{0,20}", 1..5),
        ) {
            let joined = alternatives.iter().map(|alternative| escape(alternative)).collect::<Vec<_>>().join(",");
            let query = encode_query(&[(name.clone(), joined)]);
            let params = parse_query_string(&query);
            prop_assert!(params.is_ok());
            let params = params.unwrap_or_default();
            prop_assert_eq!(params.len(), 1);
            let param = params.first().cloned().unwrap_or(RawParam { name: String::new(), values: vec![] });
            prop_assert_eq!(&param.name, &name);
            let values: Vec<String> = param.values.iter().map(|value| unescape(value)).collect();
            prop_assert_eq!(values, alternatives);
        }
    }
}
