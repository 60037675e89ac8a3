//! Query-string and value parsers: no input may panic, and the FHIR escaping must round-trip.
//!
//! Run with `cargo +nightly fuzz run --fuzz-dir tests/fuzz params` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ror_search::query::params::{encode_query, escape, parse_query_string, split_unescaped, unescape};
use ror_search::query::value::{
    date_matches, number_matches, parse_count, parse_date_criterion, parse_date_range, parse_near,
    parse_near_insee, parse_number_criterion, parse_quantity_criterion, parse_token, split_prefix,
};

fn parse_value_every_way(value: &str) {
    let _ = split_prefix(value);
    let _ = parse_date_range(value);
    if let Ok(criterion) = parse_date_criterion(value) {
        assert!(criterion.range.start_ms < criterion.range.end_ms, "empty range for {value:?}");
        let _ = date_matches(&criterion, criterion.range);
    }
    if let Ok(criterion) = parse_number_criterion(value) {
        let _ = number_matches(&criterion, criterion.value);
    }
    let _ = parse_quantity_criterion(value);
    let _ = parse_token(value);
    let _ = parse_near(value);
    let _ = parse_near_insee(value);
    let _ = parse_count(value, 1000);
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    parse_value_every_way(input);
    let Ok(params) = parse_query_string(input) else {
        return;
    };
    for param in &params {
        assert!(!param.values.is_empty(), "no value for {:?}", param.name);
        for value in &param.values {
            parse_value_every_way(value);
            let unescaped = unescape(value);
            let round_trip: Vec<String> =
                split_unescaped(&escape(&unescaped), ',').iter().map(|part| unescape(part)).collect();
            assert_eq!(round_trip, vec![unescaped.clone()]);
        }
    }
    // A link rebuilt from the parsed parameters reads back the same.
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|param| {
            let joined =
                param.values.iter().map(|value| escape(&unescape(value))).collect::<Vec<_>>().join(",");
            (param.name.clone(), joined)
        })
        .collect();
    let reparsed = parse_query_string(&encode_query(&pairs));
    let reparsed_pairs: Option<Vec<(String, Vec<String>)>> = reparsed.ok().map(|reparsed| {
        reparsed
            .into_iter()
            .map(|param| (param.name, param.values.iter().map(|value| unescape(value)).collect()))
            .collect()
    });
    let expected: Vec<(String, Vec<String>)> = params
        .iter()
        .map(|param| (param.name.clone(), param.values.iter().map(|value| unescape(value)).collect()))
        .collect();
    // `_filter` keeps its value whole, so only lists are compared after escaping.
    if params.iter().all(|param| param.name != "_filter") {
        assert_eq!(reparsed_pairs, Some(expected));
    }
});
