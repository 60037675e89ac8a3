//! Malformed and hostile request generator (robustness suite, `benches/robustness/`).
//!
//! Sends `--count` requests (default 100,000) to a running ror-search on loopback (`--addr`) and
//! checks what the service promises for input it cannot use (issue 5, item 6):
//! * no 5xx;
//! * every non-2xx answer carries a FHIR `OperationOutcome` (JSON, `resourceType` and a
//!   non-empty `issue`);
//! * the service is still up at the end (`/healthz`, `/fhir/metadata`), and, with
//!   `--server-log FILE`, its log does not contain "panicked".
//!
//! Request `n` is built from `--seed` and `n` only, so a failure is replayed with
//! `--only n` (and printed in full with `--show`). Categories: bad parameter names, values,
//! prefixes and modifiers, broken chains, deep or garbage `_filter`, huge `_count`, bad `near`,
//! invalid percent-encoding, raw invalid UTF-8 and control bytes in the target, wrong methods,
//! garbage / truncated / deeply nested JSON bodies, wrong resourceType, broken Bundles, bad
//! PATCH documents (deep FHIRPath, exploding JSON Patch), bad If-Match, huge or broken headers,
//! random paths, garbage `_search` forms.
//!
//! Bounded: `--count` requests and `--seconds` (default 900) whichever first; loopback only.
//! Run: `cargo bench --bench malformed -- --addr 127.0.0.1:PORT [--count N] [--connections 4]
//! [--seed 1] [--seconds S] [--server-log FILE] [--only N --show]`, or
//! `benches/robustness/malformed.sh [count]`, which starts and stops a demo server.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------ vocabulary

const TYPES: &[&str] = &[
    "HealthcareService",
    "Location",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Task",
    "Measure",
    "MeasureReport",
];

const PARAMS: &[&str] = &[
    "_id",
    "_lastUpdated",
    "_tag",
    "_profile",
    "_filter",
    "_content",
    "_text",
    "_count",
    "_offset",
    "_sort",
    "_include",
    "_revinclude",
    "_include:iterate",
    "_elements",
    "_summary",
    "_total",
    "_format",
    "_getpages",
    "_getpagesoffset",
    "_matching",
    "identifier",
    "name",
    "specialty",
    "characteristic",
    "service-category",
    "organization",
    "location",
    "partof",
    "type",
    "active",
    "address-postalcode",
    "address-city",
    "commune-cog",
    "near",
    "near-insee-code",
    "age-range-low",
    "age-range-high",
    "nb-capacity",
    "capacity-status",
    "limit-value",
    "intervention-zone",
    "focus",
    "business-status",
    "status",
    "date",
    "measure",
    "price-amount-value",
    "location.near",
    "location.near-insee-code",
    "organization.identifier",
    "organization.type",
];

const MODIFIERS: &[&str] = &[
    ":exact",
    ":contains",
    ":missing",
    ":not",
    ":above",
    ":below",
    ":text",
    ":in",
    ":not-in",
    ":of-type",
    ":identifier",
    ":iterate",
    ":Location",
    ":Garbage",
    ":",
    "::",
    ":above:above",
    ":exact:contains",
    ":missing:not",
    ":%00",
];

const PREFIXES: &[&str] =
    &["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "xx", "GT", "gtge", "=", "<", ">=", "e", ""];

const VALUES: &[&str] = &[
    "",
    " ",
    ",",
    ",,,",
    "|",
    "||",
    "|||||",
    "a|b|c|d",
    "\\",
    "\\\\\\",
    "a\\,b",
    "\\|",
    "$",
    "a$b$c",
    "2023-13-45",
    "2023-02-30",
    "2023-02-29T25:61:61",
    "9999-12-31T23:59:59.999999999+14:00",
    "0000-00-00",
    "-2023",
    "20230101",
    "2023-01-01T10:00+25:00",
    "2023-01-01T",
    "1e999",
    "-1e999",
    "1e-999",
    "NaN",
    "inf",
    "-0",
    "0x10",
    "99999999999999999999999999999999",
    "-99999999999999999999999999999999",
    "18446744073709551616",
    "4294967296",
    "-1",
    "1.5",
    "5|http://unitsofmeasure.org|",
    "5||",
    "|http://unitsofmeasure.org|kg",
    "ge200|http://unitsofmeasure.org|parsec",
    "91|181|15|km",
    "47.2|-1.6|-15|km",
    "47.2|-1.6|1e308|km",
    "47.2|-1.6|15|parsec",
    "47.2|-1.6|15|km|extra",
    "47.2|-1.6",
    "NaN|NaN|NaN|km",
    "inf|-inf|inf|km",
    "44162|15|km",
    "99999|15|km",
    "44162|-15|km",
    "44162|15|lightyear",
    "44162",
    "true",
    "maybe",
    "*",
    "null",
    "Location:",
    ":location",
    "HealthcareService:organization:Organization:extra",
    "*:*",
    "HealthcareService:garbage",
    "Garbage:location",
    "-",
    "--name",
    "-_lastUpdated,-,",
    "name,name,name",
    "é",
    "\u{0}",
    "\u{7f}",
    "\u{202e}",
    "\u{fffd}",
    "🏥",
];

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or("")
}

/// Random text over a hostile alphabet (FHIR and URL separators, escapes, quotes, non-ASCII).
fn garbage(rng: &mut ChaCha8Rng, max_len: usize) -> String {
    const ALPHABET: &[char] = &[
        'a', 'b', 'z', 'A', 'Z', '0', '1', '9', '_', '-', '.', ':', '|', ',', '$', '\\', '(', ')', '[', ']',
        '"', '\'', ' ', '=', '&', '?', '/', '#', '%', '+', '*', '<', '>', '{', '}', 'é', 'ß', '€', '\u{0}',
        '\u{1f}', '\u{7f}', '\u{2028}', '😀',
    ];
    let length = rng.random_range(0..=max_len);
    (0..length).map(|_| *ALPHABET.choose(rng).unwrap_or(&'x')).collect()
}

/// Percent-encode everything but unreserved characters, so the value reaches the handler as is.
fn encode(text: &str) -> String {
    encode_bytes(text.as_bytes())
}

fn encode_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Half the time percent-encoded, otherwise only what the HTTP/1.1 parser refuses in a request
/// target (space, `"`, `<`, `>`, DEL, non-ASCII) is encoded: the raw form exercises the
/// handler's own reading of `|`, `:`, `,`, `\`, `{`, `[`… (the `raw-bytes` category sends the
/// refused bytes on purpose).
fn maybe_encode(rng: &mut ChaCha8Rng, text: &str) -> String {
    if rng.random_bool(0.5) {
        return encode(text);
    }
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_graphic() && !b"#&%+ \"<>".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn random_value(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..10) {
        0..=4 => format!("{}{}", pick(rng, PREFIXES), pick(rng, VALUES)),
        5..=7 => garbage(rng, 40),
        8 => {
            let count = rng.random_range(1..3000);
            (0..count).map(|i| format!("v{i}")).collect::<Vec<_>>().join(",")
        }
        _ => "x".repeat(rng.random_range(1000..20000)),
    }
}

// ------------------------------------------------------------------------------------------ requests

/// One request as bytes on the wire (a broken request line or header is the point of some).
struct Request {
    category: &'static str,
    method: String,
    target: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    fn new(category: &'static str, method: &str, target: impl Into<Vec<u8>>) -> Request {
        Request {
            category,
            method: method.to_owned(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Request {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn json(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self.headers.push(("Content-Type".into(), b"application/fhir+json".to_vec()));
        self
    }

    fn wire(&self, host: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + self.target.len() + 256);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let has = |name: &str| self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !has("host") {
            out.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if !has("content-length")
            && !has("transfer-encoding")
            && (!self.body.is_empty() || self.method != "GET")
        {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    fn summary(&self) -> String {
        let target = String::from_utf8_lossy(&self.target);
        let body = String::from_utf8_lossy(&self.body);
        format!(
            "[{}] {} {} ({} header(s), body {} bytes: {})",
            self.category,
            self.method,
            clip(&target, 300),
            self.headers.len(),
            self.body.len(),
            clip(&body, 300)
        )
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

/// Ids of resources that exist in the served corpus (PATCH and PUT need real targets).
struct Known {
    ids: BTreeMap<String, Vec<String>>,
    location: Value,
}

impl Known {
    fn id(&self, rng: &mut ChaCha8Rng, resource_type: &str) -> String {
        match self.ids.get(resource_type).and_then(|ids| ids.choose(rng)) {
            Some(id) if rng.random_bool(0.8) => id.clone(),
            _ => pick(rng, &["missing-id", "0", "a.b-c", "x"]).to_owned(),
        }
    }
}

fn search_target(resource_type: &str, pairs: &[(String, String)]) -> String {
    let query: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
    format!("/fhir/{resource_type}?{}", query.join("&"))
}

fn bad_param_name(rng: &mut ChaCha8Rng) -> Request {
    let resource_type = pick(rng, TYPES);
    let name = match rng.random_range(0..6) {
        0 => garbage(rng, 30),
        1 => format!("{}{}", pick(rng, PARAMS), pick(rng, MODIFIERS)),
        2 => format!("{}{}{}", pick(rng, PARAMS), pick(rng, MODIFIERS), pick(rng, MODIFIERS)),
        3 => format!("_{}", garbage(rng, 12)),
        4 => pick(rng, &["_has", "_has:", "_type", "_query", "_list", "__include", "_revincluded", "_"])
            .to_owned(),
        _ => format!("{}{}", pick(rng, PARAMS), "x".repeat(rng.random_range(100..5000))),
    };
    let value = random_value(rng);
    let (name, value) = (maybe_encode(rng, &name), maybe_encode(rng, &value));
    let prefer = rng.random_bool(0.3);
    let request = Request::new("bad-param-name", "GET", search_target(resource_type, &[(name, value)]));
    if prefer {
        request.header("Prefer", "handling=strict")
    } else {
        request
    }
}

fn bad_value(rng: &mut ChaCha8Rng) -> Request {
    let resource_type = pick(rng, TYPES);
    let count = rng.random_range(1..5);
    let pairs: Vec<(String, String)> = (0..count)
        .map(|_| {
            let name = pick(rng, PARAMS);
            let modifier = if rng.random_bool(0.2) { pick(rng, MODIFIERS) } else { "" };
            let value = random_value(rng);
            (encode(&format!("{name}{modifier}")), maybe_encode(rng, &value))
        })
        .collect();
    let request = Request::new("bad-value", "GET", search_target(resource_type, &pairs));
    if rng.random_bool(0.3) {
        request.header("Prefer", "handling=strict")
    } else {
        request
    }
}

fn broken_chain(rng: &mut ChaCha8Rng) -> Request {
    let resource_type = pick(rng, TYPES);
    let name = match rng.random_range(0..9) {
        0 => pick(
            rng,
            &[
                "organization.",
                ".identifier",
                "organization..identifier",
                "organization:Garbage.identifier",
                "organization:above:below.identifier",
                "location.near.near",
                "identifier.organization",
                "_id.x",
                "focus:HealthcareService",
                "focus:HealthcareService:",
                "focus::identifier",
                "_has:PractitionerRole",
                "_has:PractitionerRole:service",
                "_has:Garbage:service:identifier",
                "_has:PractitionerRole:garbage:identifier",
                "_has::::",
                "organization._has:HealthcareService:organization:identifier",
            ],
        )
        .to_owned(),
        1 => {
            let depth = rng.random_range(2..200);
            let mut name = vec!["organization"; depth].join(".");
            name.push_str(".identifier");
            name
        }
        2 => {
            let depth = rng.random_range(2..200);
            let mut name = "_has:HealthcareService:organization:".repeat(depth);
            name.push_str("identifier");
            name
        }
        3 => {
            let depth = rng.random_range(2..60);
            let mut name = String::new();
            for _ in 0..depth {
                name.push_str(pick(
                    rng,
                    &["organization", "location", "partof", "service", "focus", "practitioner"],
                ));
                name.push_str(pick(rng, &[".", ":Organization.", ":above.", ":Location.", ":"]));
            }
            name.push_str(pick(rng, PARAMS));
            name
        }
        4 => format!("{}.{}", pick(rng, PARAMS), pick(rng, PARAMS)),
        5 => format!(
            "{}.{}{}",
            pick(rng, &["organization", "location", "focus"]),
            pick(rng, PARAMS),
            pick(rng, MODIFIERS)
        ),
        6 => format!("_has:{}:{}:{}", pick(rng, TYPES), pick(rng, PARAMS), pick(rng, PARAMS)),
        7 => format!("focus:{}:{}", pick(rng, TYPES), pick(rng, PARAMS)),
        _ => garbage(rng, 20).replace(['&', '='], "."),
    };
    let value = random_value(rng);
    Request::new(
        "broken-chain",
        "GET",
        search_target(resource_type, &[(encode(&name), maybe_encode(rng, &value))]),
    )
}

fn filter_expression(rng: &mut ChaCha8Rng) -> String {
    let comparisons = ["specialty eq 227", "name co \"a\"", "_lastUpdated ge 2023-01-01", "identifier eq x"];
    match rng.random_range(0..10) {
        0 => {
            let depth = rng.random_range(10..5000);
            format!("{}specialty eq 1{}", "(".repeat(depth), ")".repeat(depth))
        }
        1 => {
            let depth = rng.random_range(10..5000);
            format!("{}specialty eq 1", "(".repeat(depth))
        }
        2 => "not ".repeat(rng.random_range(10..3000)) + "(specialty eq 1)",
        3 => {
            let count = rng.random_range(10..3000);
            (0..count).map(|i| format!("specialty eq {i}")).collect::<Vec<_>>().join(" or ")
        }
        4 => {
            let count = rng.random_range(10..3000);
            format!("specialty eq {}", (0..count).map(|i| i.to_string()).collect::<Vec<_>>().join(" or "))
        }
        5 => garbage(rng, 200),
        6 => {
            let mut text = String::new();
            for _ in 0..rng.random_range(1..30) {
                text.push_str(pick(
                    rng,
                    &[
                        "(",
                        ")",
                        " and ",
                        " or ",
                        " not ",
                        " eq ",
                        " sw ",
                        " gt ",
                        "\"",
                        "'",
                        " ",
                        "x",
                        "_has:Task:focus:status",
                        "location._content",
                        "organization.type:above",
                        "1e999",
                        "\\",
                    ],
                ));
            }
            text
        }
        7 => format!(
            "{} {} {}",
            pick(rng, PARAMS),
            pick(
                rng,
                &[
                    "eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le", "ap", "sa", "eb", "pr", "po", "ss",
                    "sb", "in", "ni", "re", "xx"
                ]
            ),
            random_value(rng)
        ),
        8 => format!(
            "({}) {} ({})",
            pick(rng, &comparisons),
            pick(rng, &["and", "or", "AND", "Or", "xor", ""]),
            garbage(rng, 30)
        ),
        _ => format!("{}\"{}", pick(rng, &comparisons), "\\".repeat(rng.random_range(1..100))),
    }
}

fn bad_filter(rng: &mut ChaCha8Rng) -> Request {
    let resource_type = pick(rng, TYPES);
    let expression = filter_expression(rng);
    let mut pairs = vec![("_filter".to_owned(), maybe_encode(rng, &expression))];
    if rng.random_bool(0.2) {
        pairs.push(("_filter".to_owned(), encode(&filter_expression(rng))));
    }
    Request::new("filter", "GET", search_target(resource_type, &pairs))
}

fn bad_count(rng: &mut ChaCha8Rng) -> Request {
    let resource_type = pick(rng, TYPES);
    let name = pick(
        rng,
        &[
            "_count",
            "_offset",
            "_getpagesoffset",
            "_count",
            "_getpages",
            "_total",
            "_summary",
            "_elements",
            "_sort",
        ],
    );
    let value = pick(
        rng,
        &[
            "1000000",
            "99999999999999999999999",
            "-1",
            "0",
            "1.5",
            "1e3",
            "",
            " 10",
            "+10",
            "0x10",
            "4294967296",
            "18446744073709551615",
            "abc",
            "10,20",
            "garbage-cursor",
            "../../etc",
            "count",
            "accurate",
            "*",
            "_id,,,",
        ],
    );
    let mut pairs = vec![(name.to_owned(), encode(value))];
    if rng.random_bool(0.5) {
        pairs.push(("_count".to_owned(), pick(rng, &["1000", "1001", "100000000", "0"]).to_owned()));
        pairs.push(("_revinclude".to_owned(), "PractitionerRole:service".to_owned()));
    }
    Request::new("count-paging", "GET", search_target(resource_type, &pairs))
}

fn bad_near(rng: &mut ChaCha8Rng) -> Request {
    let (resource_type, name) = match rng.random_range(0..4) {
        0 => ("Location", "near"),
        1 => ("HealthcareService", "location.near"),
        2 => ("Location", "near-insee-code"),
        _ => ("HealthcareService", "location.near-insee-code"),
    };
    let value = match rng.random_range(0..3) {
        0 => pick(rng, VALUES).to_owned(),
        1 => {
            let number = |rng: &mut ChaCha8Rng| -> String {
                pick(
                    rng,
                    &[
                        "47.2", "-1.6", "91", "-181", "1e308", "-1e308", "NaN", "0", "", "x", "15", "-15",
                        "1e-320",
                    ],
                )
                .to_owned()
            };
            let parts: Vec<String> = (0..rng.random_range(0..7))
                .map(|i| {
                    if i == 3 {
                        pick(rng, &["km", "m", "mi", "[mi_i]", "", "parsec"]).to_owned()
                    } else {
                        number(rng)
                    }
                })
                .collect();
            parts.join("|")
        }
        _ => garbage(rng, 30),
    };
    let mut pairs = vec![(name.to_owned(), maybe_encode(rng, &value))];
    if rng.random_bool(0.3) {
        pairs.push((
            "_sort".to_owned(),
            pick(rng, &["near", "-near", "_distance", "location.near"]).to_owned(),
        ));
    }
    Request::new("near", "GET", search_target(resource_type, &pairs))
}

fn bad_percent(rng: &mut ChaCha8Rng) -> Request {
    let resource_type = pick(rng, TYPES);
    let broken = pick(
        rng,
        &[
            "%",
            "%G1",
            "%zz",
            "%4",
            "%%",
            "%E9",
            "%C3%28",
            "%FF%FE",
            "%ED%A0%80",
            "%F4%90%80%80",
            "%C0%AF",
            "%00",
            "%E2%82",
            "%2",
            "%u00e9",
        ],
    );
    let (name, value) = match rng.random_range(0..3) {
        0 => (format!("name{broken}"), "x".to_owned()),
        1 => ("name".to_owned(), format!("a{broken}b")),
        _ => (broken.to_owned(), broken.to_owned()),
    };
    let target = if rng.random_bool(0.2) {
        format!("/fhir/{resource_type}{broken}?{name}={value}")
    } else {
        search_target(resource_type, &[(name, value)])
    };
    Request::new("percent-encoding", "GET", target)
}

fn raw_bytes(rng: &mut ChaCha8Rng) -> Request {
    let resource_type = pick(rng, TYPES);
    let mut target = format!("/fhir/{resource_type}?name=").into_bytes();
    let raw: &[&[u8]] = &[
        b"\xff",
        b"\xc3\x28",
        b"\xe9t\xe9",
        b"\xed\xa0\x80",
        b"\x00",
        b"\x01",
        b"\x7f",
        b"\t",
        b"\"",
        b"<>",
        b"{}",
        b"`^",
        b"\\",
        b"\xc3\xa9",
        b"#frag",
        b" ",
    ];
    for _ in 0..rng.random_range(1..4) {
        target.extend_from_slice(raw.choose(rng).copied().unwrap_or(b"x"));
    }
    if rng.random_bool(0.3) {
        target = [b"/fhir/\xff\xfe".as_slice(), raw.choose(rng).copied().unwrap_or(b"x")].concat();
    }
    Request::new("raw-bytes", "GET", target)
}

fn wrong_method(rng: &mut ChaCha8Rng, known: &Known) -> Request {
    let resource_type = pick(rng, TYPES);
    let id = known.id(rng, resource_type);
    let path = match rng.random_range(0..8) {
        0 => format!("/fhir/{resource_type}"),
        1 => format!("/fhir/{resource_type}/{id}/_history"),
        2 => format!("/fhir/{resource_type}/{id}/_history/1"),
        3 => "/fhir/metadata".to_owned(),
        4 => "/fhir".to_owned(),
        5 => format!("/fhir/{resource_type}/_search"),
        6 => "/healthz".to_owned(),
        _ => "/admin/status".to_owned(),
    };
    let method = pick(
        rng,
        &[
            "PUT", "DELETE", "PATCH", "POST", "OPTIONS", "TRACE", "HEAD", "FOO", "get", "Get", "PROPFIND",
            "M-SEARCH", "G\u{e9}T",
        ],
    );
    let mut request = Request::new("method", method, path);
    if rng.random_bool(0.5) {
        request = request.json(json!({"resourceType": resource_type}).to_string());
    }
    request
}

fn garbage_json(rng: &mut ChaCha8Rng, known: &Known) -> Vec<u8> {
    let valid = known.location.to_string().into_bytes();
    match rng.random_range(0..12) {
        0 => Vec::new(),
        1 => {
            let cut = rng.random_range(0..valid.len().max(1));
            valid[..cut].to_vec()
        }
        2 => garbage(rng, 200).into_bytes(),
        3 => (0..rng.random_range(1..500)).map(|_| rng.random::<u8>()).collect(),
        4 => {
            let depth = rng.random_range(100..100_000);
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }
        5 => {
            let depth = rng.random_range(100..50_000);
            format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes()
        }
        6 => pick(
            rng,
            &[
                "null",
                "true",
                "1",
                "\"Location\"",
                "[]",
                "{}",
                "[{}]",
                "1e999",
                "-",
                "\u{feff}{}",
                "{\"resourceType\":\"Location\",}",
                "{\"resourceType\":\"Location\" \"id\":\"a\"}",
                "{\"resourceType\":\"Location\",\"resourceType\":\"Task\"}",
            ],
        )
        .as_bytes()
        .to_vec(),
        7 => [b"{\"resourceType\":\"Location\",\"name\":\"".as_slice(), b"\xff\xfe\xc3\x28", b"\"}"].concat(),
        8 => format!(
            "{{\"resourceType\":\"Location\",\"name\":\"{}\"}}",
            "\\u".repeat(rng.random_range(1..100))
        )
        .into_bytes(),
        9 => format!("{{\"resourceType\":\"Location\",\"n\":{}}}", "9".repeat(rng.random_range(20..5000)))
            .into_bytes(),
        10 => format!(
            "{{\"resourceType\":\"Location\",\"alias\":[{}]}}",
            vec!["\"x\""; rng.random_range(1..20_000)].join(",")
        )
        .into_bytes(),
        _ => {
            let mut bytes = valid;
            for _ in 0..rng.random_range(1..5) {
                let at = rng.random_range(0..bytes.len().max(1));
                if let Some(byte) = bytes.get_mut(at) {
                    *byte = rng.random();
                }
            }
            bytes
        }
    }
}

fn json_body(rng: &mut ChaCha8Rng, known: &Known) -> Request {
    let resource_type = pick(rng, TYPES);
    let body = garbage_json(rng, known);
    let request = if rng.random_bool(0.5) {
        Request::new("json-body", "POST", format!("/fhir/{resource_type}"))
    } else {
        let id = known.id(rng, resource_type);
        Request::new("json-body", "PUT", format!("/fhir/{resource_type}/{id}"))
    };
    let content_type = pick(
        rng,
        &["application/fhir+json", "application/json", "text/plain", "application/xml", "", "garbage/\u{e9}"],
    );
    let mut request = request.json(body);
    if let Some(header) = request.headers.iter_mut().find(|(n, _)| n == "Content-Type") {
        header.1 = content_type.as_bytes().to_vec();
    }
    request
}

fn bad_resource(rng: &mut ChaCha8Rng, known: &Known) -> Request {
    let url_type = pick(rng, TYPES);
    let mut resource = known.location.clone();
    let object = resource.as_object_mut();
    if let Some(object) = object {
        match rng.random_range(0..14) {
            0 => {
                object.insert(
                    "resourceType".into(),
                    json!(pick(
                        rng,
                        &["Patient", "Bundle", "location", "", "OperationOutcome", "Parameters"]
                    )),
                );
            }
            1 => {
                object.remove("resourceType");
            }
            2 => {
                object.insert("resourceType".into(), json!(rng.random::<u32>()));
            }
            3 => {
                object.insert(
                    "id".into(),
                    json!(pick(rng, &["", "a b", "../x", "x".repeat(65).as_str(), "é"])),
                );
            }
            4 => {
                object.insert("id".into(), json!([1, 2]));
            }
            5 => {
                object.insert("identifier".into(), json!({"value": "x"}));
            }
            6 => {
                object.insert("extension".into(), json!([{"valueString": "no url"}, {"url": 5}, {"url": "x", "valueString": "a", "extension": []}]));
            }
            7 => {
                object.insert("position".into(), json!({"latitude": pick(rng, &["91", "-1000", "x"]).parse::<f64>().unwrap_or(1e300), "longitude": "east"}));
            }
            8 => {
                object.insert("meta".into(), json!(pick(rng, &["x", "[]"])));
            }
            9 => {
                object.insert("meta".into(), json!({"lastUpdated": pick(rng, &["yesterday", "2023-02-30T00:00:00Z", "", "99999-01-01T00:00:00Z"]), "tag": "notalist"}));
            }
            10 => {
                object.insert("managingOrganization".into(), json!({"reference": pick(rng, &["", "/", "Organization/", "Organization/a b", "urn:uuid:", "http://", "Organization/x/_history/y"])}));
            }
            11 => {
                object.insert(
                    "address".into(),
                    json!({"postalCode": {"nested": [1, 2, {"x": null}]}, "city": 12}),
                );
            }
            12 => {
                object.insert("name".into(), json!("x".repeat(rng.random_range(1000..200_000))));
            }
            _ => {
                object.insert(
                    "contained".into(),
                    json!([{"resourceType": "Location", "contained": [{"resourceType": "Location"}]}]),
                );
            }
        }
    }
    let body = resource.to_string();
    if rng.random_bool(0.5) {
        Request::new("resource-type", "POST", format!("/fhir/{url_type}")).json(body)
    } else {
        let id = known.id(rng, url_type);
        let mut request = Request::new("resource-type", "PUT", format!("/fhir/{url_type}/{id}")).json(body);
        if rng.random_bool(0.5) {
            request = request.header("If-Match", "W/\"999999\"");
        }
        request
    }
}

fn bad_bundle(rng: &mut ChaCha8Rng, known: &Known) -> Request {
    let bundle_type = pick(rng, &["transaction", "batch", "collection", "searchset", "", "TRANSACTION"]);
    let entry = |rng: &mut ChaCha8Rng| -> Value {
        let method = pick(rng, &["PUT", "POST", "DELETE", "PATCH", "GET", "HEAD", "", "put"]);
        let url = match rng.random_range(0..6) {
            0 => format!("{}/{}", pick(rng, TYPES), known.id(rng, "Location")),
            1 => pick(
                rng,
                &[
                    "",
                    "/",
                    "Location/",
                    "/Location",
                    "Location//x",
                    "http://x/fhir/Location/../Task/a",
                    "Location?identifier=x",
                    "Location/a b",
                    "Garbage/1",
                    "urn:uuid:1",
                ],
            )
            .to_owned(),
            2 => garbage(rng, 40),
            3 => format!("{}/{}", pick(rng, TYPES), "x".repeat(rng.random_range(60..300))),
            4 => pick(rng, TYPES).to_owned(),
            _ => format!("https://ror.example/fhir/{}/{}", pick(rng, TYPES), known.id(rng, "Task")),
        };
        let resource = match rng.random_range(0..6) {
            0 => known.location.clone(),
            1 => json!({"resourceType": pick(rng, TYPES), "id": garbage(rng, 10)}),
            2 => {
                json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [{"name": "type", "valueString": pick(rng, &["add", "replace", "delete", "x"])}, {"name": "path", "valueString": garbage(rng, 30)}]}]})
            }
            3 => json!(garbage(rng, 10)),
            4 => Value::Null,
            _ => json!({"resourceType": "Location", "managingOrganization": {"reference": "urn:uuid:self"}}),
        };
        let mut entry = json!({"request": {"method": method, "url": url}, "resource": resource});
        if rng.random_bool(0.3) {
            entry["fullUrl"] = json!(pick(rng, &["urn:uuid:self", "urn:uuid:1", "", "Location/x"]));
        }
        if rng.random_bool(0.2) {
            entry["request"]["ifMatch"] =
                json!(pick(rng, &["W/\"x\"", "*", "", "W/\"-1\"", "W/\"99999999999999999999999\""]));
        }
        if rng.random_bool(0.1) {
            entry["request"] = json!(pick(rng, &["PUT", ""]));
        }
        entry
    };
    let body = match rng.random_range(0..6) {
        0 => json!({"resourceType": "Bundle", "type": bundle_type, "entry": "not a list"}),
        1 => json!({"resourceType": "Bundle", "type": bundle_type, "entry": [1, "x", null, [], {}]}),
        2 => {
            json!({"resourceType": pick(rng, &["Location", "Parameters", "bundle", ""]), "type": "transaction", "entry": []})
        }
        3 => {
            let count = rng.random_range(100..3000);
            json!({"resourceType": "Bundle", "type": "batch", "entry": (0..count).map(|i| json!({"request": {"method": "DELETE", "url": format!("Garbage/{i}")}})).collect::<Vec<_>>()})
        }
        _ => {
            let count = rng.random_range(1..8);
            json!({"resourceType": "Bundle", "type": bundle_type, "entry": (0..count).map(|_| entry(rng)).collect::<Vec<_>>()})
        }
    };
    let path = pick(rng, &["/fhir", "/fhir/", "/fhir/Bundle", "/fhir/Location/_search"]);
    Request::new("bundle", "POST", path).json(body.to_string())
}

fn fhirpath(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..9) {
        0 => {
            let depth = rng.random_range(10..4000);
            format!("Location.where({}url='x'{})", "(".repeat(depth), ")".repeat(depth))
        }
        1 => {
            let depth = rng.random_range(10..2000);
            format!("Location{}", ".where(extension".repeat(depth))
        }
        2 => format!("Location{}", ".extension".repeat(rng.random_range(10..2000))),
        3 => garbage(rng, 60),
        4 => pick(
            rng,
            &[
                "",
                ".",
                "Location.",
                "Location..name",
                "Location.name[",
                "Location.name[99999999999999999999]",
                "Location.name[-1]",
                "Location.where(",
                "Location.where()",
                "Location.foo()",
                "Location.as()",
                "Location.where(url=)",
                "Location.where(url='x' and)",
                "Location.where(url='unterminated)",
                "Task.businessStatus",
                "Patient.name",
                "Location.extension.where(url != 1e999)",
            ],
        )
        .to_owned(),
        5 => format!("Location.where({})", vec!["url='x'"; rng.random_range(10..3000)].join(" or ")),
        6 => format!("Location.extension.where(url='{}')", "\\".repeat(rng.random_range(1..100))),
        7 => "x".repeat(rng.random_range(8000..9000)),
        _ => format!("Location.extension{}", "[0]".repeat(rng.random_range(1..50))),
    }
}

fn bad_patch(rng: &mut ChaCha8Rng, known: &Known) -> Request {
    let resource_type = pick(rng, &["Location", "Location", "HealthcareService", "Task"]);
    let id = known.id(rng, resource_type);
    let operation = |rng: &mut ChaCha8Rng| -> Value {
        let mut parts = vec![
            json!({"name": "type", "valueString": pick(rng, &["add", "insert", "delete", "replace", "move", "copy", "", "ADD"])}),
            json!({"name": "path", "valueString": fhirpath(rng)}),
        ];
        if rng.random_bool(0.7) {
            parts.push(match rng.random_range(0..5) {
                0 => json!({"name": "value", "valueString": garbage(rng, 20)}),
                1 => json!({"name": "value", "part": [{"name": "x"}, {"nope": 1}]}),
                2 => json!({"name": "value", "part": "x"}),
                3 => json!({"name": "value", "valueInteger": -1}),
                _ => json!({"name": "value", "valueCodeableConcept": {"coding": [{"code": 1}]}}),
            });
        }
        if rng.random_bool(0.3) {
            parts.push(json!({"name": pick(rng, &["index", "source", "destination", "name"]), "valueInteger": pick(rng, &["-1", "99999999999", "0"]).parse::<i64>().unwrap_or(0)}));
        }
        json!({"name": pick(rng, &["operation", "operation", "op", ""]), "part": parts})
    };
    let (body, content_type) = match rng.random_range(0..8) {
        0 => {
            let count = rng.random_range(1..5);
            (json!({"resourceType": "Parameters", "parameter": (0..count).map(|_| operation(rng)).collect::<Vec<_>>()}).to_string(), "application/fhir+json")
        }
        1 => (json!({"resourceType": pick(rng, &["Parameters", "Location", "Bundle"]), "parameter": pick(rng, &["x", "[]"])}).to_string(), "application/fhir+json"),
        2 => {
            // Each copy of the whole document doubles it: bounded work or a clear 4xx, not OOM.
            let count = rng.random_range(20..64);
            let mut operations = vec![json!({"op": "add", "path": "/alias", "value": ["seed"]})];
            for _ in 0..count {
                operations.push(json!({"op": "copy", "from": pick(rng, &["", "/alias", ""]), "path": "/alias/-"}));
            }
            (Value::Array(operations).to_string(), "application/json-patch+json")
        }
        3 => {
            let op = pick(rng, &["add", "remove", "replace", "move", "copy", "test", "", "ADD"]);
            let path = pick(rng, &["", "/", "x", "/id", "/resourceType", "/alias/-", "/alias/99999999999999999999", "/alias/-1", "/~2", "/extension/0/extension/0/url", "//", "/meta/lastUpdated", "/position/latitude"]);
            let from = pick(rng, &["", "/", "/name", "/nope", "/alias/0"]);
            (json!([{"op": op, "path": path, "from": from, "value": garbage(rng, 10)}]).to_string(), "application/json-patch+json")
        }
        4 => (json!([{"op": "add", "path": "/extension/-", "value": {"valueString": "no url"}}, {"op": "replace", "path": "/position", "value": {"latitude": 1000, "longitude": "x"}}]).to_string(), "application/json-patch+json"),
        5 => (String::from_utf8_lossy(&garbage_json(rng, known)).into_owned(), pick(rng, &["application/json-patch+json", "application/fhir+json"])),
        6 => (json!([1, "x", null, {"op": 5, "path": 7}]).to_string(), "application/json-patch+json"),
        _ => (json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [{"name": "type", "valueString": "add"}, {"name": "path", "valueString": "Location"}, {"name": "name", "valueString": pick(rng, &["id", "resourceType", "alias", "extension", ""])}, {"name": "value", "valueString": "x"}]}]}).to_string(), "application/fhir+json"),
    };
    let target = if rng.random_bool(0.2) {
        format!(
            "/fhir/{resource_type}?{}",
            pick(rng, &["", "identifier=", "garbage=1", "_filter=(((", "identifier=x,y", "_count=1000000"])
        )
    } else {
        format!("/fhir/{resource_type}/{id}")
    };
    let mut request = Request::new("patch", "PATCH", target).json(body);
    if let Some(header) = request.headers.iter_mut().find(|(n, _)| n == "Content-Type") {
        header.1 = content_type.as_bytes().to_vec();
    }
    request
}

fn bad_if_match(rng: &mut ChaCha8Rng, known: &Known) -> Request {
    let resource_type = pick(rng, &["Location", "Task", "HealthcareService"]);
    let id = known.id(rng, resource_type);
    let value: Vec<u8> = match rng.random_range(0..3) {
        0 => pick(
            rng,
            &[
                "W/\"abc\"",
                "*",
                "\"\"",
                "",
                "W/",
                "W/\"-1\"",
                "W/\"99999999999999999999999\"",
                "W/\"1\", W/\"2\"",
                "W/\"1.5\"",
                "w/\"1\"",
                "\"1",
                "W/\"0\"",
                "  W/\"1\"  ",
            ],
        )
        .as_bytes()
        .to_vec(),
        1 => b"W/\"\xff\xfe\"".to_vec(),
        _ => garbage(rng, 30).into_bytes().into_iter().filter(|b| *b != b'\r' && *b != b'\n').collect(),
    };
    let request = match rng.random_range(0..3) {
        0 => Request::new(
            "if-match",
            "DELETE",
            format!("/fhir/{resource_type}/{}", pick(rng, &["missing-id", "x"])),
        ),
        1 => Request::new("if-match", "PUT", format!("/fhir/{resource_type}/{id}"))
            .json(json!({"resourceType": resource_type, "id": id}).to_string()),
        _ => Request::new("if-match", "PATCH", format!("/fhir/{resource_type}/{id}"))
            .json(json!([{"op": "test", "path": "/id", "value": "never"}]).to_string()),
    };
    request.header("If-Match", value)
}

fn bad_headers(rng: &mut ChaCha8Rng) -> Request {
    let resource_type = pick(rng, TYPES);
    let request = Request::new("headers", "GET", format!("/fhir/{resource_type}?_count=1"));
    match rng.random_range(0..11) {
        0 => request.header("X-Huge", "x".repeat(rng.random_range(10_000..100_000))),
        1 => {
            let mut request = request;
            for i in 0..rng.random_range(50..300) {
                request = request.header(&format!("X-Many-{i}"), "y");
            }
            request
        }
        2 => request.header("Prefer", garbage(rng, 50).replace(['\r', '\n'], "")),
        3 => request.header(
            "Accept",
            pick(
                rng,
                &["application/xml", "text/html", "*/*;q=x", "", "application/fhir+json; fhirVersion=9.9"],
            ),
        ),
        4 => request.header("Content-Length", pick(rng, &["abc", "-1", "99999999999999999999", "1, 2"])),
        5 => request.header("Transfer-Encoding", pick(rng, &["garbage", "chunked, gzip", "identity"])),
        6 => request.header("Host", pick(rng, &["", "a b", "\u{e9}", "[::1", "x:99999"])),
        7 => request.header("Accept-Encoding", "gzip;q=2, br, garbage"),
        8 => request.header("X-Binary", b"\xff\xfe\x00\x01".to_vec()),
        9 => request.header(pick(rng, &["Bad Name", "", ":", "Na\u{e9}me"]), "x"),
        _ => {
            let mut request = Request::new("headers", "POST", format!("/fhir/{resource_type}"))
                .header("Transfer-Encoding", "chunked")
                .header("Content-Type", "application/fhir+json");
            request.body = pick(
                rng,
                &["zz\r\n{}\r\n0\r\n\r\n", "5\r\n{}\r\n0\r\n\r\n", "2\r\n{}\r\n0\r\n\r\n", "0\r\n\r\n"],
            )
            .as_bytes()
            .to_vec();
            request
        }
    }
}

fn random_path(rng: &mut ChaCha8Rng, known: &Known) -> Request {
    let resource_type = pick(rng, TYPES);
    let id = known.id(rng, resource_type);
    let path = match rng.random_range(0..6) {
        0 => pick(
            rng,
            &[
                "/",
                "/fhir/",
                "/fhir//",
                "//fhir",
                "/fhir/Location/../../etc/passwd",
                "/fhir/%2e%2e/%2e%2e/etc/passwd",
                "/fhir/Garbage",
                "/fhir/location",
                "/fhir/Location/x/_history/abc",
                "/fhir/Location/x/_history/-1",
                "/fhir/Location/x/_history/99999999999999999999",
                "/fhir/Location/x/_history/1/extra",
                "/fhir/$export?_type=Garbage",
                "/fhir/$export?_outputFormat=text/garbage",
                "/fhir/$export?_since=yesterday",
                "/fhir/$export?_typeFilter=HealthcareService%3F_filter%3D(((",
                "/fhir/$export?_type=Location&_typeFilter=garbage",
                "/fhir/$export-poll-status",
                "/fhir/$export-poll-status?_jobId=../../x",
                "/fhir/$export-poll-status?_jobId=00000000-0000-0000-0000-000000000000",
                "/fhir/$export-file/../x/y",
                "/fhir/$export-file/x/../../store.redb",
                "/export/garbage.csv",
                "/export/offers.csv?region=%FF",
                "/export/offers.csv?since=not-a-date",
                "/export/.csv",
                "/fhir/metadata/x",
                "/fhir/Location/_search/x",
                "/admin",
                "/admin/tasks/garbage",
                "/metrics/x",
                "/healthz/x",
                "/fhir/Location;x=y",
                "/fhir/Location/x;y",
                "*",
            ],
        )
        .to_owned(),
        1 => format!("/fhir/{resource_type}/{}", "x".repeat(rng.random_range(65..3000))),
        2 => format!("/{}", garbage(rng, 40).replace([' ', '#', '?', '%'], "_")),
        3 => {
            format!("/fhir/{resource_type}/{id}/{}", garbage(rng, 20).replace([' ', '#', '?', '%', '/'], "_"))
        }
        4 => format!("/fhir/{}", "a/".repeat(rng.random_range(10..2000))),
        _ => format!("/fhir/{resource_type}/{}", encode(&garbage(rng, 20))),
    };
    let method = pick(rng, &["GET", "GET", "GET", "DELETE", "POST"]);
    let mut request = Request::new("path", method, encode_path(&path));
    if method == "POST" {
        request = request.json("{}");
    }
    request
}

/// Keep a target transmissible: bytes a request line cannot carry are encoded, the rest kept.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_graphic() && !b"\"<>\\^`{|}#".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn search_form(rng: &mut ChaCha8Rng) -> Request {
    let resource_type = pick(rng, TYPES);
    let body: Vec<u8> = match rng.random_range(0..4) {
        0 => (0..rng.random_range(1..300)).map(|_| rng.random::<u8>()).collect(),
        1 => {
            let value = random_value(rng);
            format!("{}={}", encode(pick(rng, PARAMS)), maybe_encode(rng, &value)).into_bytes()
        }
        2 => format!("_filter={}", encode(&filter_expression(rng))).into_bytes(),
        _ => [b"name=".as_slice(), b"\xff\xfe", b"&_count=%"].concat(),
    };
    let mut request = Request::new("search-post", "POST", format!("/fhir/{resource_type}/_search"));
    request.body = body;
    request.header(
        "Content-Type",
        pick(
            rng,
            &["application/x-www-form-urlencoded", "application/json", "multipart/form-data; boundary=x", ""],
        ),
    )
}

fn huge_body(rng: &mut ChaCha8Rng) -> Request {
    // Past the 32 MiB default limit: 413, and the connection may be closed before the body ends.
    let size = 33 * 1024 * 1024 + rng.random_range(0..1024);
    let mut body = Vec::with_capacity(size + 64);
    body.extend_from_slice(b"{\"resourceType\":\"Location\",\"name\":\"");
    body.resize(size, b'x');
    body.extend_from_slice(b"\"}");
    let (method, target) = *[("POST", "/fhir/Location"), ("PUT", "/fhir/Location/huge"), ("POST", "/fhir")]
        .choose(rng)
        .unwrap_or(&("POST", "/fhir/Location"));
    Request::new("huge-body", method, target).json(body)
}

/// Request `n` of the run: a pure function of the seed and `n`.
fn build(seed: u64, n: u64, known: &Known) -> Request {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    if n % 20_000 == 19_999 {
        return huge_body(&mut rng);
    }
    match rng.random_range(0..100) {
        0..=9 => bad_param_name(&mut rng),
        10..=21 => bad_value(&mut rng),
        22..=29 => broken_chain(&mut rng),
        30..=39 => bad_filter(&mut rng),
        40..=43 => bad_count(&mut rng),
        44..=48 => bad_near(&mut rng),
        49..=53 => bad_percent(&mut rng),
        54..=56 => raw_bytes(&mut rng),
        57..=61 => wrong_method(&mut rng, known),
        62..=67 => json_body(&mut rng, known),
        68..=73 => bad_resource(&mut rng, known),
        74..=79 => bad_bundle(&mut rng, known),
        80..=87 => bad_patch(&mut rng, known),
        88..=90 => bad_if_match(&mut rng, known),
        91..=93 => bad_headers(&mut rng),
        94..=97 => random_path(&mut rng, known),
        _ => search_form(&mut rng),
    }
}

// ------------------------------------------------------------------------------------------ client

struct Answer {
    status: u16,
    body: Vec<u8>,
    close: bool,
    /// The application's middleware stamps every answer with `X-Request-Id`; an answer without
    /// it comes from the HTTP/1.1 codec, which refused the bytes before any FHIR processing.
    from_app: bool,
}

struct Connection {
    addr: String,
    reader: Option<BufReader<TcpStream>>,
}

impl Connection {
    fn new(addr: &str) -> Connection {
        Connection { addr: addr.to_owned(), reader: None }
    }

    /// One request; when a kept-alive connection turns out closed, once more on a fresh one.
    fn send(&mut self, wire: &[u8], head_only: bool) -> io::Result<Answer> {
        let fresh = self.reader.is_none();
        match self.send_once(wire, head_only) {
            Err(_) if !fresh => self.send_once(wire, head_only),
            result => result,
        }
    }

    fn send_once(&mut self, wire: &[u8], head_only: bool) -> io::Result<Answer> {
        if self.reader.is_none() {
            let stream = TcpStream::connect(&self.addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(60)))?;
            stream.set_write_timeout(Some(Duration::from_secs(60)))?;
            self.reader = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        let reader = self.reader.as_mut().ok_or_else(|| io::Error::other("no connection"))?;
        // The server may answer (413, 400) and close before it has read the whole request: the
        // answer is still there to read.
        let written = reader.get_mut().write_all(wire);
        let answer = read_answer(reader, head_only);
        match (written, answer) {
            (_, Ok(answer)) => {
                // The codec closes after refusing a request, without always saying so.
                if answer.close || !answer.from_app {
                    self.reader = None;
                }
                Ok(answer)
            }
            (Err(error), Err(_)) | (Ok(()), Err(error)) => {
                self.reader = None;
                Err(error)
            }
        }
    }
}

fn read_line(reader: &mut impl BufRead, line: &mut String) -> io::Result<()> {
    line.clear();
    let mut raw = Vec::new();
    if reader.read_until(b'\n', &mut raw)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    line.push_str(&String::from_utf8_lossy(&raw));
    Ok(())
}

fn read_answer(reader: &mut BufReader<TcpStream>, head_only: bool) -> io::Result<Answer> {
    let mut line = String::new();
    read_line(reader, &mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {line:?}")))?;
    let (mut length, mut chunked, mut close, mut from_app) = (None::<usize>, false, false, false);
    loop {
        read_line(reader, &mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().ok(),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "x-request-id" => from_app = true,
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        // No body follows, whatever the headers announce.
    } else if chunked {
        loop {
            read_line(reader, &mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}"))
            })?;
            if size == 0 {
                loop {
                    read_line(reader, &mut line)?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
        close = true;
    }
    Ok(Answer { status, body, close, from_app })
}

/// `None` when the body is a FHIR OperationOutcome with at least one issue; else why not.
fn outcome_problem(body: &[u8]) -> Option<String> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => return Some(format!("not JSON ({error})")),
    };
    if value.get("resourceType").and_then(Value::as_str) != Some("OperationOutcome") {
        return Some("JSON but not an OperationOutcome".to_owned());
    }
    let issues = value.get("issue").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
    (issues == 0).then(|| "OperationOutcome without issue".to_owned())
}

// ------------------------------------------------------------------------------------------ run

/// Added to the status of answers written by the HTTP/1.1 codec rather than the service.
const CODEC: u16 = 1000;

fn status_label(status: u16) -> String {
    match status {
        0 => "none".to_owned(),
        s if s >= CODEC => format!("{}-codec", s - CODEC),
        s => s.to_string(),
    }
}

#[derive(Default)]
struct Tally {
    /// (category, status) → count; status 0 = no answer (I/O error).
    counts: BTreeMap<(String, u16), u64>,
    failures: u64,
    examples: Vec<String>,
    /// Failure kind → count.
    kinds: BTreeMap<String, u64>,
    latency_max_ms: u128,
}

impl Tally {
    fn fail(&mut self, kind: &str, n: u64, request: &Request, detail: String) {
        self.failures += 1;
        *self.kinds.entry(kind.to_owned()).or_default() += 1;
        // Enough to see each kind of failure, not so many that the report drowns.
        if self.examples.len() < 40 {
            self.examples.push(format!("#{n} {kind}: {} -> {detail}", request.summary()));
        }
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn get_json(addr: &str, target: &str) -> Option<(u16, Value)> {
    let mut connection = Connection::new(addr);
    let request = Request::new("probe", "GET", target);
    let answer = connection.send(&request.wire(addr), false).ok()?;
    Some((answer.status, serde_json::from_slice(&answer.body).unwrap_or(Value::Null)))
}

fn discover(addr: &str) -> Known {
    let mut ids = BTreeMap::new();
    for resource_type in TYPES {
        let ids_of_type: Vec<String> =
            get_json(addr, &format!("/fhir/{resource_type}?_count=50&_elements=id"))
                .and_then(|(_, bundle)| bundle.get("entry").and_then(Value::as_array).cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|entry| entry.pointer("/resource/id").and_then(Value::as_str).map(str::to_owned))
                .collect();
        ids.insert((*resource_type).to_owned(), ids_of_type);
    }
    let location_id = ids.get("Location").and_then(|ids| ids.first()).cloned().unwrap_or_default();
    let location = get_json(addr, &format!("/fhir/Location/{location_id}"))
        .filter(|(status, _)| *status == 200)
        .map(|(_, resource)| resource)
        .unwrap_or_else(
            || json!({"resourceType": "Location", "id": "l1", "name": "Lieu", "status": "active"}),
        );
    Known { ids, location }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` runs every bench without arguments: nothing to attack then.
    let Some(addr) = arg(&args, "--addr") else {
        println!("malformed: pass --addr 127.0.0.1:PORT of a running ror-search (see the header of benches/malformed.rs)");
        return;
    };
    if !(addr.starts_with("127.") || addr.starts_with("localhost:") || addr.starts_with("[::1]")) {
        eprintln!("malformed: loopback addresses only");
        std::process::exit(2);
    }
    let number = |name: &str, default: u64| -> u64 {
        arg(&args, name)
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")))
            .unwrap_or(default)
    };
    let count = number("--count", 100_000);
    let seed = number("--seed", 1);
    let seconds = number("--seconds", 900);
    let connections = number("--connections", 4).max(1);
    let server_log = arg(&args, "--server-log");

    let known = Arc::new(discover(&addr));
    let id_counts: Vec<String> = known.ids.iter().map(|(t, ids)| format!("{t} {}", ids.len())).collect();
    eprintln!("[malformed] ids of existing resources used as targets: {}", id_counts.join(", "));

    if let Some(only) = arg(&args, "--only").and_then(|v| v.parse::<u64>().ok()) {
        let request = build(seed, only, &known);
        let wire = request.wire(&addr);
        if args.iter().any(|a| a == "--show") {
            println!("{}", String::from_utf8_lossy(&wire[..wire.len().min(20_000)]));
        }
        let answer = Connection::new(&addr).send(&wire, request.method == "HEAD");
        match answer {
            Ok(answer) => println!(
                "#{only} -> {} (from the service: {}, connection closed: {})\n{}",
                answer.status,
                answer.from_app,
                answer.close,
                String::from_utf8_lossy(&answer.body)
            ),
            Err(error) => println!("#{only} -> no answer: {error}"),
        }
        return;
    }

    eprintln!("[malformed] {count} requests over {connections} connections to {addr} (seed {seed}, at most {seconds} s)");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let handles: Vec<_> = (0..connections)
        .map(|_| {
            let (addr, known, next, stop, tally) =
                (addr.clone(), known.clone(), next.clone(), stop.clone(), tally.clone());
            std::thread::spawn(move || {
                let mut connection = Connection::new(&addr);
                let mut local = Tally::default();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count || stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        break;
                    }
                    if n > 0 && n % 10_000 == 0 {
                        eprintln!("[malformed] {n} requests sent ({:.0} s)", started.elapsed().as_secs_f64());
                    }
                    let request = build(seed, n, &known);
                    let head_only = request.method == "HEAD";
                    let sent = Instant::now();
                    let answer = connection.send(&request.wire(&addr), head_only);
                    local.latency_max_ms = local.latency_max_ms.max(sent.elapsed().as_millis());
                    match answer {
                        Err(error) => {
                            *local.counts.entry((request.category.to_owned(), 0)).or_default() += 1;
                            // No answer at all is only acceptable if the service is still there.
                            if get_json(&addr, "/healthz").is_none() {
                                local.fail("server down", n, &request, error.to_string());
                                stop.store(true, Ordering::Relaxed);
                            } else if request.category != "huge-body" {
                                local.fail("no answer", n, &request, error.to_string());
                            }
                        }
                        Ok(answer) => {
                            // Bytes that are not HTTP/1.1 (a bad request line, a target with raw
                            // non-ASCII, `"`, `<`…) never reach the service: the codec answers an
                            // empty 4xx and closes. Counted apart (status + CODEC), not as FHIR answers.
                            let codec = !answer.from_app
                                && answer.body.is_empty()
                                && (400..500).contains(&answer.status);
                            let key = if codec { answer.status + CODEC } else { answer.status };
                            *local.counts.entry((request.category.to_owned(), key)).or_default() += 1;
                            if codec {
                                continue;
                            }
                            if answer.status >= 500 {
                                let body = String::from_utf8_lossy(&answer.body).into_owned();
                                local.fail(
                                    "5xx",
                                    n,
                                    &request,
                                    format!("{} {}", answer.status, clip(&body, 400)),
                                );
                            } else if !(200..300).contains(&answer.status) && !head_only {
                                if let Some(problem) = outcome_problem(&answer.body) {
                                    let body = String::from_utf8_lossy(&answer.body).into_owned();
                                    local.fail(
                                        "not an OperationOutcome",
                                        n,
                                        &request,
                                        format!("{} {problem}: {:?}", answer.status, clip(&body, 200)),
                                    );
                                }
                            }
                        }
                    }
                }
                if let Ok(mut tally) = tally.lock() {
                    for (key, value) in local.counts {
                        *tally.counts.entry(key).or_default() += value;
                    }
                    for (key, value) in local.kinds {
                        *tally.kinds.entry(key).or_default() += value;
                    }
                    tally.failures += local.failures;
                    tally.latency_max_ms = tally.latency_max_ms.max(local.latency_max_ms);
                    let room = 40usize.saturating_sub(tally.examples.len());
                    tally.examples.extend(local.examples.into_iter().take(room));
                }
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let Ok(tally) = tally.lock() else {
        eprintln!("malformed: a worker panicked while recording");
        std::process::exit(1);
    };
    let sent: u64 = tally.counts.values().sum();

    // Summary: per status, then per category.
    let mut per_status: BTreeMap<u16, u64> = BTreeMap::new();
    let mut per_category: BTreeMap<&str, BTreeMap<u16, u64>> = BTreeMap::new();
    for ((category, status), n) in &tally.counts {
        *per_status.entry(*status).or_default() += n;
        *per_category.entry(category.as_str()).or_default().entry(*status).or_default() += n;
    }
    println!(
        "\nmalformed requests: {sent} sent in {elapsed:.1} s ({:.0} req/s), slowest answer {} ms",
        sent as f64 / elapsed.max(1e-9),
        tally.latency_max_ms
    );
    println!("\n{:<10} {:>9}", "status", "count");
    for (status, n) in &per_status {
        println!("{:<10} {n:>9}", status_label(*status));
    }
    println!("\n{:<18} {:>8}  statuses", "category", "count");
    for (category, statuses) in &per_category {
        let total: u64 = statuses.values().sum();
        let detail: Vec<String> = statuses.iter().map(|(s, n)| format!("{}:{n}", status_label(*s))).collect();
        println!("{category:<18} {total:>8}  {}", detail.join(" "));
    }

    // The service must still be there and answering normally.
    let health = get_json(&addr, "/healthz").map(|(status, _)| status);
    let metadata =
        get_json(&addr, "/fhir/metadata").map(|(status, body)| (status, body.get("resourceType").cloned()));
    let up = health == Some(200)
        && metadata.as_ref().is_some_and(|(s, t)| {
            *s == 200 && t.as_ref().and_then(Value::as_str) == Some("CapabilityStatement")
        });
    let five_xx: u64 = per_status.range(500..CODEC).map(|(_, n)| n).sum();
    let codec: u64 = per_status.range(CODEC..).map(|(_, n)| n).sum();
    let panics = server_log.as_ref().map(|path| {
        std::fs::read_to_string(path).map(|text| text.matches("panicked").count()).unwrap_or(usize::MAX)
    });
    println!("\n5xx answers            : {five_xx}");
    println!("non-OperationOutcome   : {}", tally.kinds.get("not an OperationOutcome").copied().unwrap_or(0));
    println!("no answer              : {}", per_status.get(&0).copied().unwrap_or(0));
    println!("refused by the codec   : {codec} (not HTTP/1.1: empty 4xx + close, no FHIR processing)");
    println!("server up at the end   : {}", if up { "yes" } else { "NO" });
    match panics {
        Some(usize::MAX) => println!("server log             : unreadable"),
        Some(n) => println!("\"panicked\" in the log : {n}"),
        None => println!("server log             : not given (--server-log)"),
    }
    if !tally.examples.is_empty() {
        println!("\nfailures (first {}; replay with --only N --show):", tally.examples.len());
        for example in &tally.examples {
            println!("  {example}");
        }
    }
    if sent < count {
        println!("\nstopped by the time limit after {sent} of {count} requests");
    }
    let ok = tally.failures == 0 && up && sent == count && panics.is_none_or(|n| n == 0);
    println!("\nverdict: {}", if ok { "PASS" } else { "FAIL" });
    if !ok {
        std::process::exit(1);
    }
}
