//! Typed search values: prefixes, dates with their implicit range, numbers with their implicit
//! precision, quantities, tokens, `near` and `near-insee-code`, `_count`.
//!
//! Pure functions with no schema knowledge. Each parser takes one OR alternative as
//! [`crate::query::params::parse_query_string`] left it (`\,` resolved, `\|` `\$` `\\` still
//! escaped) and resolves the remaining escapes itself.
//!
//! Decisions the IG leaves open, made once here:
//! * **Time zones.** A dateTime without a zone, and a date without a time, are read as UTC.
//!   There is no time-zone database in the build, and the stored ROR timestamps carry explicit
//!   offsets, so only a zone-less search value is affected (by at most the Paris offset, 1–2 h).
//!   A space where the offset sign is expected is read as `+`: an unencoded `+01:00` in a URL
//!   arrives as ` 01:00` after form decoding.
//! * **Date precision.** The range of a value is its precision: `2023` is the whole year,
//!   `2022-11-06T15:00` the whole minute, `…:05.1` 100 ms. Fractions beyond milliseconds are
//!   truncated and keep a 1 ms range.
//! * **`ap` on dates.** The search range is widened on both sides by 10 % of the distance between
//!   its start and now, and by at least one day ([`DATE_APPROXIMATION_MIN_MS`]).
//! * **Number precision.** The implicit range is ± half a unit of the last significant digit:
//!   `100` → [99.5, 100.5), `100.00` → [99.995, 100.005), `1e2` → [50, 150). R4's table gives
//!   [95, 105) for `1e2`, which contradicts its own rule (one significant figure); the rule is
//!   followed. `gt lt ge le` compare with the exact value, `sa eb` with the bounds
//!   of the range, `ap` accepts 10 % of the value (and at least the implicit precision).
//! * **Quantity system.** `5.4||mg` means "code mg in any system" (R4), so an empty system is
//!   `None`, unlike tokens where `|code` means "no system".
//! * **`near` distance.** Omitted (`lat|lon`) or empty distance: [`DEFAULT_NEAR_DISTANCE_KM`]
//!   (10 km). Omitted unit: km (R4). Units: `km`, `m`, `mi` / `[mi_i]` (international mile).
//! * **`_count`.** Values above the server maximum are clamped to it, not rejected: R4 lets the
//!   server return fewer results than asked for.

use std::fmt;

use crate::query::params::{split_unescaped, unescape};

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Smallest widening of a date range by `ap`.
pub const DATE_APPROXIMATION_MIN_MS: i64 = MS_PER_DAY;

/// Radius used by `near` and `near-insee-code` when the value gives no distance.
pub const DEFAULT_NEAR_DISTANCE_KM: f64 = 10.0;

/// What a value that does not parse was expected to look like.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Not a FHIR date, dateTime or instant, or a date that does not exist.
    #[error(
        "invalid date {value:?}: {detail}; expected yyyy, yyyy-mm, yyyy-mm-dd or \
         yyyy-mm-ddThh:mm[:ss[.sss]] with an optional Z or ±hh:mm"
    )]
    InvalidDate {
        /// The value as given, prefix included.
        value: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Not a decimal number.
    #[error(
        "invalid number {value:?}: expected an optional prefix (eq, ne, gt, lt, ge, le, sa, eb, ap) \
         and a decimal such as 100, -2.5 or 1e2"
    )]
    InvalidNumber {
        /// The value as given, prefix included.
        value: String,
    },
    /// Not `[prefix]number[|system|code]`.
    #[error(
        "invalid quantity {value:?}: {detail}; expected [prefix]number, [prefix]number|system|code \
         or [prefix]number||code"
    )]
    InvalidQuantity {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Not `code`, `system|code`, `|code` or `system|`.
    #[error("invalid token {value:?}: {detail}; expected code, system|code, |code or system|")]
    InvalidToken {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Not `latitude|longitude[|distance[|unit]]`.
    #[error(
        "invalid near {value:?}: {detail}; expected latitude|longitude[|distance[|unit]] \
         with unit km, m, mi or [mi_i]"
    )]
    InvalidNear {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Not `cog[|distance[|unit]]`.
    #[error(
        "invalid near-insee-code {value:?}: {detail}; expected a commune code (COG) with an \
         optional distance and unit, e.g. 44162|15|km"
    )]
    InvalidNearInsee {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Not a non-negative integer.
    #[error("invalid _count {value:?}: expected a non-negative integer")]
    InvalidCount {
        /// The value as given.
        value: String,
    },
}

/// A FHIR comparison prefix (`eq` when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefix {
    /// Equal (within the implicit precision).
    #[default]
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Less than.
    Lt,
    /// Greater or equal.
    Ge,
    /// Less or equal.
    Le,
    /// Starts after.
    Sa,
    /// Ends before.
    Eb,
    /// Approximately.
    Ap,
}

impl Prefix {
    /// Every prefix, in the order FHIR lists them.
    pub const ALL: [Prefix; 9] = [
        Prefix::Eq,
        Prefix::Ne,
        Prefix::Gt,
        Prefix::Lt,
        Prefix::Ge,
        Prefix::Le,
        Prefix::Sa,
        Prefix::Eb,
        Prefix::Ap,
    ];

    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Eq => "eq",
            Prefix::Ne => "ne",
            Prefix::Gt => "gt",
            Prefix::Lt => "lt",
            Prefix::Ge => "ge",
            Prefix::Le => "le",
            Prefix::Sa => "sa",
            Prefix::Eb => "eb",
            Prefix::Ap => "ap",
        }
    }

    /// The prefix for a lower-case two-letter code.
    pub fn from_code(code: &str) -> Option<Prefix> {
        Prefix::ALL.into_iter().find(|prefix| prefix.as_str() == code)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Splits a leading comparison prefix off a number, date or quantity value.
///
/// The prefix is stripped only when followed by a digit or `-`, so that a token or string such
/// as `gender` or `ltX` stays whole (R4 prefixes are lower case, and numbers and dates always
/// start with a digit or a minus sign).
pub fn split_prefix(value: &str) -> (Prefix, &str) {
    if let (Some(code), Some(rest)) = (value.get(..2), value.get(2..)) {
        if rest.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            if let Some(prefix) = Prefix::from_code(code) {
                return (prefix, rest);
            }
        }
    }
    (Prefix::Eq, value)
}

/// A FHIR date/dateTime/instant with its implicit range: [start, end) in milliseconds since the
/// Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct DateRange {
    /// First millisecond of the range.
    pub start_ms: i64,
    /// First millisecond after the range (exclusive).
    pub end_ms: i64,
}

impl DateRange {
    /// The one-millisecond range of an exact instant.
    pub fn instant(ms: i64) -> DateRange {
        DateRange { start_ms: ms, end_ms: ms.saturating_add(1) }
    }
}

/// Parses a date, dateTime or instant into the range its precision covers.
///
/// Accepts `yyyy`, `yyyy-mm`, `yyyy-mm-dd`, `yyyy-mm-ddThh:mm`, `…:ss`, `…:ss.fff…`, the last
/// three with an optional `Z` or `±hh:mm` (no zone = UTC, see the module doc). Years 0001–9999.
pub fn parse_date_range(s: &str) -> Result<DateRange, ValueError> {
    parse_date_fields(s).map_err(|detail| ValueError::InvalidDate { value: s.to_owned(), detail })
}

/// A parsed date criterion, e.g. `ge2022-11-06T15:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct DateCriterion {
    /// The comparison.
    pub prefix: Prefix,
    /// The range the value covers.
    pub range: DateRange,
}

/// Parses `[prefix]date`.
pub fn parse_date_criterion(v: &str) -> Result<DateCriterion, ValueError> {
    let (prefix, date) = split_prefix(v);
    let range =
        parse_date_fields(date).map_err(|detail| ValueError::InvalidDate { value: v.to_owned(), detail })?;
    Ok(DateCriterion { prefix, range })
}

/// Whether a stored date (itself a range) matches a criterion, per the R4 prefix table for
/// ranges (search.html, "prefix"), with `ap` measured from the current time.
pub fn date_matches(c: &DateCriterion, stored: DateRange) -> bool {
    date_matches_at(c, stored, chrono::Utc::now().timestamp_millis())
}

/// [`date_matches`] with an explicit "now" (milliseconds since the epoch), for `ap`.
pub fn date_matches_at(c: &DateCriterion, stored: DateRange, now_ms: i64) -> bool {
    let search = c.range;
    let search_contains_stored = search.start_ms <= stored.start_ms && stored.end_ms <= search.end_ms;
    match c.prefix {
        Prefix::Eq => search_contains_stored,
        Prefix::Ne => !search_contains_stored,
        // "The range above the search value intersects the range of the target value."
        Prefix::Gt => stored.end_ms > search.end_ms,
        Prefix::Lt => stored.start_ms < search.start_ms,
        Prefix::Ge => stored.end_ms > search.end_ms || search_contains_stored,
        Prefix::Le => stored.start_ms < search.start_ms || search_contains_stored,
        // "Does not overlap, and the range above/below contains the target."
        Prefix::Sa => stored.start_ms >= search.end_ms,
        Prefix::Eb => stored.end_ms <= search.start_ms,
        Prefix::Ap => {
            let (low, high) = approximation_bounds(search, now_ms);
            stored.start_ms < high && stored.end_ms > low
        }
    }
}

/// Date criteria compiled for a pass over a column: each prefix of the R4 table is at most two
/// boxes on a stored range's (start, end), so a pass over 430,000 locations makes four
/// comparisons per box instead of a call dispatching on the prefix (that call was 30% of a
/// national `_lastUpdated` search). Matches exactly what [`date_matches_at`] matches.
///
/// The first two boxes (one criterion, the common case) are held inline and tested as straight
/// code, a box that holds nothing filling an unused place; a comma list adds the others. Every
/// box is tested, without a branch on the earlier ones' answer: over dates in no order that
/// branch is mispredicted (a `||` there made a `_lastUpdated` pass 20 % slower).
#[derive(Debug, Clone)]
pub struct DateTest {
    pair: [DateBox; 2],
    rest: Vec<DateBox>,
}

/// Inclusive bounds on a stored range's first millisecond and on its first millisecond after.
#[derive(Debug, Clone, Copy)]
struct DateBox {
    start_min: i64,
    start_max: i64,
    end_min: i64,
    end_max: i64,
}

impl DateBox {
    const ANY: DateBox =
        DateBox { start_min: i64::MIN, start_max: i64::MAX, end_min: i64::MIN, end_max: i64::MAX };
    /// Holds no range.
    const NONE: DateBox =
        DateBox { start_min: i64::MAX, start_max: i64::MIN, end_min: i64::MAX, end_max: i64::MIN };

    /// Without branches: over dates in no order, a branch per comparison is mispredicted
    /// half the time.
    #[inline]
    fn contains(&self, stored: DateRange) -> bool {
        (self.start_min <= stored.start_ms)
            & (stored.start_ms <= self.start_max)
            & (self.end_min <= stored.end_ms)
            & (stored.end_ms <= self.end_max)
    }
}

impl DateTest {
    /// The test of "any of `criteria`" (a comma list), with `now_ms` as the present for `ap`.
    pub fn new(criteria: &[DateCriterion], now_ms: i64) -> DateTest {
        let mut boxes = Vec::with_capacity(criteria.len() * 2);
        for criterion in criteria {
            let search = criterion.range;
            let within = DateBox { start_min: search.start_ms, end_max: search.end_ms, ..DateBox::ANY };
            let ends_after = DateBox { end_min: search.end_ms.saturating_add(1), ..DateBox::ANY };
            let starts_before = DateBox { start_max: search.start_ms.saturating_sub(1), ..DateBox::ANY };
            match criterion.prefix {
                Prefix::Eq => boxes.push(within),
                Prefix::Ne => boxes.extend([starts_before, ends_after]),
                Prefix::Gt => boxes.push(ends_after),
                Prefix::Lt => boxes.push(starts_before),
                Prefix::Ge => boxes.extend([ends_after, within]),
                Prefix::Le => boxes.extend([starts_before, within]),
                Prefix::Sa => boxes.push(DateBox { start_min: search.end_ms, ..DateBox::ANY }),
                Prefix::Eb => boxes.push(DateBox { end_max: search.start_ms, ..DateBox::ANY }),
                Prefix::Ap => {
                    let (low, high) = approximation_bounds(search, now_ms);
                    boxes.push(DateBox {
                        start_max: high.saturating_sub(1),
                        end_min: low.saturating_add(1),
                        ..DateBox::ANY
                    });
                }
            }
        }
        let rest = boxes.split_off(boxes.len().min(2));
        let mut pair = [DateBox::NONE; 2];
        for (place, date_box) in pair.iter_mut().zip(boxes) {
            *place = date_box;
        }
        DateTest { pair, rest }
    }

    #[inline]
    pub fn matches(&self, stored: DateRange) -> bool {
        let [first, second] = &self.pair;
        first.contains(stored)
            | second.contains(stored)
            | self.rest.iter().fold(false, |hit, b| hit | b.contains(stored))
    }

    /// Where the ranges this test accepts start, for stored ranges whose length
    /// (`end_ms - start_ms`) lies within `min_span..=max_span`: one window per box, holding the
    /// starts the box may accept and, inside them, the starts it accepts whatever the length.
    /// A range starting outside every `maybe` window does not match; one starting inside a
    /// `sure` window does, without a test.
    pub fn start_windows(&self, min_span: i64, max_span: i64) -> Vec<StartWindow> {
        self.pair
            .iter()
            .chain(&self.rest)
            .map(|b| StartWindow {
                maybe: (
                    b.start_min.max(b.end_min.saturating_sub(max_span)),
                    b.start_max.min(b.end_max.saturating_sub(min_span)),
                ),
                sure: (
                    b.start_min.max(b.end_min.saturating_sub(min_span)),
                    b.start_max.min(b.end_max.saturating_sub(max_span)),
                ),
            })
            .collect()
    }
}

/// Inclusive bounds on a stored range's start (see [`DateTest::start_windows`]); a window whose
/// first bound is above its second holds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartWindow {
    pub maybe: (i64, i64),
    pub sure: (i64, i64),
}

/// Date criteria of one parameter for tests: a comma list (an OR), one criterion per index into
/// [`Prefix::ALL`], each `width` long and `shift` after the one before.
#[cfg(test)]
pub(crate) fn comma_list(prefixes: &[usize], start: i64, width: i64, shift: i64) -> Vec<DateCriterion> {
    (0..)
        .zip(prefixes)
        .map(|(i, p)| {
            let start = start + i * shift;
            DateCriterion {
                prefix: Prefix::ALL[*p % Prefix::ALL.len()],
                range: DateRange { start_ms: start, end_ms: start + width },
            }
        })
        .collect()
}

/// The widened range `ap` accepts overlaps with: a tenth of the distance to now, at least a day.
fn approximation_bounds(search: DateRange, now_ms: i64) -> (i64, i64) {
    let distance_to_now = now_ms.abs_diff(search.start_ms);
    let widening = i64::try_from(distance_to_now / 10).unwrap_or(i64::MAX).max(DATE_APPROXIMATION_MIN_MS);
    (search.start_ms.saturating_sub(widening), search.end_ms.saturating_add(widening))
}

/// A parsed number criterion; `value ± precision_half_width` is the implicit range.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NumberCriterion {
    /// The comparison.
    pub prefix: Prefix,
    /// The number as written.
    pub value: f64,
    /// Half a unit of the last significant digit: 0.5 for `100`, 0.005 for `100.00`, 50 for `1e2`.
    pub precision_half_width: f64,
}

/// Parses `[prefix]number`.
pub fn parse_number_criterion(v: &str) -> Result<NumberCriterion, ValueError> {
    let (prefix, number) = split_prefix(v);
    let (value, precision_half_width) =
        parse_decimal(number).ok_or_else(|| ValueError::InvalidNumber { value: v.to_owned() })?;
    Ok(NumberCriterion { prefix, value, precision_half_width })
}

/// Whether a stored number matches a criterion (see the module doc for the precision rules).
pub fn number_matches(c: &NumberCriterion, stored: f64) -> bool {
    let low = c.value - c.precision_half_width;
    let high = c.value + c.precision_half_width;
    let within_precision = low <= stored && stored < high;
    match c.prefix {
        Prefix::Eq => within_precision,
        Prefix::Ne => !within_precision,
        Prefix::Gt => stored > c.value,
        Prefix::Lt => stored < c.value,
        Prefix::Ge => stored >= c.value,
        Prefix::Le => stored <= c.value,
        Prefix::Sa => stored >= high,
        Prefix::Eb => stored < low,
        Prefix::Ap => {
            let tolerance = (c.value.abs() / 10.0).max(c.precision_half_width);
            (stored - c.value).abs() <= tolerance
        }
    }
}

/// A parsed quantity criterion, e.g. `ge200|http://unitsofmeasure.org|kg`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuantityCriterion {
    /// The prefixed number.
    pub number: NumberCriterion,
    /// Unit system; `None` = any system (also for `5.4||mg`).
    pub system: Option<String>,
    /// Unit code; `None` = any unit.
    pub code: Option<String>,
}

/// Parses `[prefix]number`, `[prefix]number|system|code` or `[prefix]number||code`.
///
/// The UCUM system is kept as written (`https://unitsofmeasure.org` in the IG examples is not
/// rewritten to `http://`): normalising systems is the caller's decision.
pub fn parse_quantity_criterion(v: &str) -> Result<QuantityCriterion, ValueError> {
    let invalid = |detail: String| ValueError::InvalidQuantity { value: v.to_owned(), detail };
    let parts = split_unescaped(v, '|');
    let (number_part, system, code) = match parts.as_slice() {
        [number] => (number, None, None),
        [number, system, code] => (number, non_empty(unescape(system)), non_empty(unescape(code))),
        _ => return Err(invalid(format!("found {} |-separated parts, expected 1 or 3", parts.len()))),
    };
    let (prefix, number_text) = split_prefix(number_part);
    let (value, precision_half_width) =
        parse_decimal(number_text).ok_or_else(|| invalid(format!("{number_part:?} is not a number")))?;
    Ok(QuantityCriterion { number: NumberCriterion { prefix, value, precision_half_width }, system, code })
}

/// A token search value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TokenValue {
    /// `None` = any system (`code`); `Some("")` = no system (`|code`).
    pub system: Option<String>,
    /// `None` = any code of the system (`system|`).
    pub code: Option<String>,
}

/// Parses `code`, `system|code`, `|code` or `system|`.
///
/// The value is split at its first unescaped `|`; later unescaped pipes belong to the code.
pub fn parse_token(v: &str) -> Result<TokenValue, ValueError> {
    let invalid = |detail: &str| ValueError::InvalidToken { value: v.to_owned(), detail: detail.to_owned() };
    let mut parts = split_unescaped(v, '|').into_iter();
    let first = parts.next().unwrap_or_default();
    let rest: Vec<String> = parts.collect();
    if rest.is_empty() {
        let code = unescape(&first);
        if code.is_empty() {
            return Err(invalid("the value is empty"));
        }
        return Ok(TokenValue { system: None, code: Some(code) });
    }
    let system = unescape(&first);
    let code = unescape(&rest.join("|"));
    if system.is_empty() && code.is_empty() {
        return Err(invalid("both system and code are empty"));
    }
    Ok(TokenValue { system: Some(system), code: non_empty(code) })
}

/// A `near` search: a point and a radius.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Near {
    /// WGS84 latitude in degrees, in [-90, 90].
    pub lat: f64,
    /// WGS84 longitude in degrees, in [-180, 180].
    pub lon: f64,
    /// Radius in metres, finite and > 0.
    pub radius_m: f64,
}

/// Parses `latitude|longitude[|distance[|unit]]` (R4 `near`).
pub fn parse_near(v: &str) -> Result<Near, ValueError> {
    let invalid = |detail: String| ValueError::InvalidNear { value: v.to_owned(), detail };
    let parts = split_unescaped(v, '|');
    let (lat_text, lon_text, distance_text, unit_text) = match parts.as_slice() {
        [lat, lon] => (lat, lon, "", ""),
        [lat, lon, distance] => (lat, lon, distance.as_str(), ""),
        [lat, lon, distance, unit] => (lat, lon, distance.as_str(), unit.as_str()),
        _ => return Err(invalid(format!("found {} |-separated parts, expected 2 to 4", parts.len()))),
    };
    let lat = parse_decimal(lat_text)
        .map(|(value, _)| value)
        .filter(|lat| (-90.0..=90.0).contains(lat))
        .ok_or_else(|| invalid(format!("latitude {lat_text:?} is not a number in [-90, 90]")))?;
    let lon = parse_decimal(lon_text)
        .map(|(value, _)| value)
        .filter(|lon| (-180.0..=180.0).contains(lon))
        .ok_or_else(|| invalid(format!("longitude {lon_text:?} is not a number in [-180, 180]")))?;
    let radius_m = parse_radius_m(distance_text, unit_text).map_err(invalid)?;
    Ok(Near { lat, lon, radius_m })
}

/// A `near-insee-code` search: a commune (by its INSEE COG code) and a radius.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NearInsee {
    /// Five-character commune code, upper case (`44162`, `2A004`).
    pub cog: String,
    /// Radius in metres, finite and > 0.
    pub radius_m: f64,
}

/// Parses `cog[|distance[|unit]]`, e.g. `44162|15|km`.
pub fn parse_near_insee(v: &str) -> Result<NearInsee, ValueError> {
    let invalid = |detail: String| ValueError::InvalidNearInsee { value: v.to_owned(), detail };
    let parts = split_unescaped(v, '|');
    let (cog_text, distance_text, unit_text) = match parts.as_slice() {
        [cog] => (cog, "", ""),
        [cog, distance] => (cog, distance.as_str(), ""),
        [cog, distance, unit] => (cog, distance.as_str(), unit.as_str()),
        _ => return Err(invalid(format!("found {} |-separated parts, expected 1 to 3", parts.len()))),
    };
    let cog = normalize_cog(cog_text).ok_or_else(|| {
        invalid(format!(
            "{cog_text:?} is not a commune code (5 characters: 2 for the department, \
             2A/2B in Corsica, then 3 digits)"
        ))
    })?;
    let radius_m = parse_radius_m(distance_text, unit_text).map_err(invalid)?;
    Ok(NearInsee { cog, radius_m })
}

/// Parses `_count`, clamping it to `max` (see the module doc).
pub fn parse_count(v: &str, max: u32) -> Result<u32, ValueError> {
    if v.is_empty() || !v.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ValueError::InvalidCount { value: v.to_owned() });
    }
    // All digits, so the only possible failure is overflow, which is above any max.
    Ok(v.parse::<u32>().map_or(max, |count| count.min(max)))
}

fn non_empty(value: String) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        Some(value)
    }
}

/// COG: department (2 digits, or 2A/2B) then 3 digits; overseas communes (97x) fit too.
fn normalize_cog(text: &str) -> Option<String> {
    let upper = text.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let well_formed = match bytes {
        [first, second, rest @ ..] if rest.len() == 3 => {
            first.is_ascii_digit()
                && (second.is_ascii_digit() || (*first == b'2' && matches!(second, b'A' | b'B')))
                && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    well_formed.then_some(upper)
}

/// Distance and unit of `near`/`near-insee-code` in metres; the error is the detail text.
fn parse_radius_m(distance_text: &str, unit_text: &str) -> Result<f64, String> {
    if distance_text.is_empty() {
        return Ok(DEFAULT_NEAR_DISTANCE_KM * 1_000.0);
    }
    let metres_per_unit = match unit_text {
        "" | "km" => 1_000.0,
        "m" => 1.0,
        "mi" | "[mi_i]" => 1_609.344,
        other => return Err(format!("unknown distance unit {other:?}")),
    };
    let radius_m = parse_decimal(distance_text)
        .map(|(distance, _)| distance * metres_per_unit)
        .filter(|radius_m| radius_m.is_finite() && *radius_m > 0.0)
        .ok_or_else(|| format!("distance {distance_text:?} is not a positive number"))?;
    Ok(radius_m)
}

/// Parses a FHIR decimal (`-?digits(.digits)?([eE][+-]?digits)?`) into its value and the half
/// width of its implicit precision. Rejects what `f64::from_str` alone would accept but FHIR
/// does not (`inf`, `NaN`, `.5`, `+1`), and values that overflow to infinity.
fn parse_decimal(text: &str) -> Option<(f64, f64)> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent_text) = match unsigned.find(['e', 'E']) {
        Some(at) => (unsigned.get(..at)?, Some(unsigned.get(at + 1..)?)),
        None => (unsigned, None),
    };
    let (integer_digits, fraction_digits) = match mantissa.split_once('.') {
        Some((integer, fraction)) => (integer, fraction),
        None => (mantissa, ""),
    };
    let all_digits = |digits: &str| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(integer_digits) || (mantissa.contains('.') && !all_digits(fraction_digits)) {
        return None;
    }
    let exponent = match exponent_text {
        None => 0,
        Some(exponent_text) => {
            let exponent_digits = exponent_text.strip_prefix(['+', '-']).unwrap_or(exponent_text);
            if !all_digits(exponent_digits) {
                return None;
            }
            // Beyond ±400 every f64 is 0 or infinite; clamping keeps the arithmetic in i32.
            let magnitude = exponent_digits.parse::<i32>().unwrap_or(i32::MAX).min(400);
            if exponent_text.starts_with('-') {
                -magnitude
            } else {
                magnitude
            }
        }
    };
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let fraction_len = i32::try_from(fraction_digits.len()).unwrap_or(i32::MAX);
    let last_digit_exponent = exponent.saturating_sub(fraction_len).max(-400);
    let half_width = 0.5 * 10f64.powi(last_digit_exponent);
    Some((value, half_width))
}

/// How much of a date the value gave, which decides the width of its range.
#[derive(Clone, Copy)]
enum DatePrecision {
    Year,
    Month,
    Day,
    Minute,
    Second,
    /// Milliseconds covered by the last fraction digit given (100, 10 or 1).
    Fraction(i64),
}

/// Reads fixed-width ASCII fields out of a date; positions are byte offsets into ASCII text.
struct DateCursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl DateCursor<'_> {
    fn at_end(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn eat(&mut self, expected: u8) -> bool {
        if self.peek() == Some(expected) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn number(&mut self, width: usize, what: &str) -> Result<u32, String> {
        let mut number = 0u32;
        for _ in 0..width {
            match self.peek() {
                Some(byte) if byte.is_ascii_digit() => {
                    number = number * 10 + u32::from(byte - b'0');
                    self.position += 1;
                }
                _ => return Err(format!("expected {width} digits for the {what}")),
            }
        }
        Ok(number)
    }

    fn expect(&mut self, separator: u8, what: &str) -> Result<(), String> {
        if self.eat(separator) {
            Ok(())
        } else {
            Err(format!("expected '{}' {what}", char::from(separator)))
        }
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year_from_march = if month <= 2 { year - 1 } else { year };
    let era = year_from_march.div_euclid(400);
    let year_of_era = year_from_march - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn parse_date_fields(text: &str) -> Result<DateRange, String> {
    if text.is_empty() {
        return Err("the value is empty".to_owned());
    }
    if !text.is_ascii() {
        return Err("unexpected non-ASCII character".to_owned());
    }
    let mut cursor = DateCursor { bytes: text.as_bytes(), position: 0 };
    let year = i64::from(cursor.number(4, "year")?);
    if year == 0 {
        return Err("year 0000 does not exist".to_owned());
    }
    let mut month = 1;
    let mut day = 1;
    let mut precision = DatePrecision::Year;
    let mut time_ms = 0i64;
    let mut offset_ms = 0i64;
    if !cursor.at_end() {
        cursor.expect(b'-', "after the year")?;
        month = cursor.number(2, "month")?;
        if !(1..=12).contains(&month) {
            return Err(format!("month {month:02} is not in 01-12"));
        }
        precision = DatePrecision::Month;
    }
    if !cursor.at_end() {
        cursor.expect(b'-', "after the month")?;
        day = cursor.number(2, "day")?;
        if day == 0 || day > days_in_month(year, month) {
            return Err(format!("day {day:02} does not exist in {year:04}-{month:02}"));
        }
        precision = DatePrecision::Day;
    }
    if !cursor.at_end() {
        cursor.expect(b'T', "between the date and the time")?;
        let hour = cursor.number(2, "hour")?;
        cursor.expect(b':', "after the hour")?;
        let minute = cursor.number(2, "minutes")?;
        if hour > 23 || minute > 59 {
            return Err(format!("time {hour:02}:{minute:02} does not exist"));
        }
        time_ms = i64::from(hour) * MS_PER_HOUR + i64::from(minute) * MS_PER_MINUTE;
        precision = DatePrecision::Minute;
        if cursor.eat(b':') {
            let second = cursor.number(2, "seconds")?;
            // 60 is a leap second, which FHIR allows; it lands on the next minute's first second.
            if second > 60 {
                return Err(format!("second {second:02} does not exist"));
            }
            time_ms += i64::from(second) * MS_PER_SECOND;
            precision = DatePrecision::Second;
            if cursor.eat(b'.') {
                let mut fraction_len = 0usize;
                let mut fraction_ms = 0i64;
                while let Some(byte) = cursor.peek().filter(u8::is_ascii_digit) {
                    if fraction_len < 3 {
                        fraction_ms = fraction_ms * 10 + i64::from(byte - b'0');
                    }
                    fraction_len += 1;
                    cursor.position += 1;
                }
                if fraction_len == 0 {
                    return Err("expected digits after '.'".to_owned());
                }
                let resolution_ms = match fraction_len {
                    1 => 100,
                    2 => 10,
                    _ => 1,
                };
                time_ms += fraction_ms * resolution_ms;
                precision = DatePrecision::Fraction(resolution_ms);
            }
        }
        offset_ms = parse_zone(&mut cursor)?;
    }
    if !cursor.at_end() {
        let rest = text.get(cursor.position..).unwrap_or_default();
        return Err(format!("unexpected {rest:?} at the end"));
    }
    let day_start_ms = days_from_civil(year, month, day) * MS_PER_DAY;
    let start_ms = day_start_ms + time_ms - offset_ms;
    let end_ms = match precision {
        DatePrecision::Year => days_from_civil(year + 1, 1, 1) * MS_PER_DAY,
        DatePrecision::Month if month == 12 => days_from_civil(year + 1, 1, 1) * MS_PER_DAY,
        DatePrecision::Month => days_from_civil(year, month + 1, 1) * MS_PER_DAY,
        DatePrecision::Day => day_start_ms + MS_PER_DAY,
        DatePrecision::Minute => start_ms + MS_PER_MINUTE,
        DatePrecision::Second => start_ms + MS_PER_SECOND,
        DatePrecision::Fraction(resolution_ms) => start_ms + resolution_ms,
    };
    Ok(DateRange { start_ms, end_ms })
}

/// `Z`, `±hh:mm` (a space standing for a `+` lost to form decoding) or nothing (UTC).
fn parse_zone(cursor: &mut DateCursor<'_>) -> Result<i64, String> {
    if cursor.at_end() || cursor.eat(b'Z') {
        return Ok(0);
    }
    let sign = match cursor.peek() {
        Some(b'+' | b' ') => 1,
        Some(b'-') => -1,
        _ => return Err("expected Z or ±hh:mm after the time".to_owned()),
    };
    cursor.position += 1;
    let hours = cursor.number(2, "offset hours")?;
    cursor.expect(b':', "in the offset")?;
    let minutes = cursor.number(2, "offset minutes")?;
    if hours > 14 || minutes > 59 || (hours == 14 && minutes > 0) {
        return Err(format!("offset {hours:02}:{minutes:02} is beyond ±14:00"));
    }
    Ok(sign * (i64::from(hours) * MS_PER_HOUR + i64::from(minutes) * MS_PER_MINUTE))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn date(text: &str) -> DateRange {
        match parse_date_range(text) {
            Ok(range) => range,
            Err(error) => panic!("{text:?}: {error}"),
        }
    }

    fn criterion(text: &str) -> DateCriterion {
        match parse_date_criterion(text) {
            Ok(criterion) => criterion,
            Err(error) => panic!("{text:?}: {error}"),
        }
    }

    fn number(text: &str) -> NumberCriterion {
        match parse_number_criterion(text) {
            Ok(criterion) => criterion,
            Err(error) => panic!("{text:?}: {error}"),
        }
    }

    fn ms(text: &str) -> i64 {
        match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(datetime) => datetime.timestamp_millis(),
            Err(error) => panic!("{text:?}: {error}"),
        }
    }

    fn error_text<T: fmt::Debug>(result: Result<T, ValueError>) -> String {
        match result {
            Ok(value) => panic!("expected an error, got {value:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn test_split_prefix() {
        assert_eq!(split_prefix("ge200|x|kg"), (Prefix::Ge, "200|x|kg"));
        assert_eq!(split_prefix("gt0"), (Prefix::Gt, "0"));
        assert_eq!(split_prefix("ge2022-11-06T15:00"), (Prefix::Ge, "2022-11-06T15:00"));
        assert_eq!(split_prefix("lt-3"), (Prefix::Lt, "-3"));
        assert_eq!(split_prefix("gender"), (Prefix::Eq, "gender"));
        assert_eq!(split_prefix("ltX"), (Prefix::Eq, "ltX"));
        assert_eq!(split_prefix("xx12"), (Prefix::Eq, "xx12"));
        assert_eq!(split_prefix("GE12"), (Prefix::Eq, "GE12"));
        assert_eq!(split_prefix("2023"), (Prefix::Eq, "2023"));
        assert_eq!(split_prefix("é1"), (Prefix::Eq, "é1"));
        assert_eq!(split_prefix("eq"), (Prefix::Eq, "eq"));
        for prefix in Prefix::ALL {
            assert_eq!(split_prefix(&format!("{prefix}1")), (prefix, "1"));
        }
    }

    #[test]
    fn test_date_precisions() {
        assert_eq!(
            date("2023"),
            DateRange { start_ms: ms("2023-01-01T00:00:00Z"), end_ms: ms("2024-01-01T00:00:00Z") }
        );
        assert_eq!(
            date("2024-02"),
            DateRange { start_ms: ms("2024-02-01T00:00:00Z"), end_ms: ms("2024-03-01T00:00:00Z") }
        );
        assert_eq!(
            date("2023-12"),
            DateRange { start_ms: ms("2023-12-01T00:00:00Z"), end_ms: ms("2024-01-01T00:00:00Z") }
        );
        assert_eq!(
            date("2023-08-02"),
            DateRange { start_ms: ms("2023-08-02T00:00:00Z"), end_ms: ms("2023-08-03T00:00:00Z") }
        );
        assert_eq!(
            date("2022-11-06T15:00"),
            DateRange { start_ms: ms("2022-11-06T15:00:00Z"), end_ms: ms("2022-11-06T15:01:00Z") }
        );
        assert_eq!(
            date("2022-11-06T15:00:05"),
            DateRange { start_ms: ms("2022-11-06T15:00:05Z"), end_ms: ms("2022-11-06T15:00:06Z") }
        );
        assert_eq!(
            date("2022-11-06T15:00:05.1Z"),
            DateRange { start_ms: ms("2022-11-06T15:00:05.1Z"), end_ms: ms("2022-11-06T15:00:05.2Z") }
        );
        assert_eq!(
            date("2022-11-06T15:00:05.123456+02:00"),
            DateRange { start_ms: ms("2022-11-06T13:00:05.123Z"), end_ms: ms("2022-11-06T13:00:05.124Z") }
        );
        assert_eq!(date("1970-01-01T00:00Z").start_ms, 0);
        assert_eq!(date("1969-12-31").start_ms, -MS_PER_DAY);
    }

    #[test]
    fn test_date_zones() {
        assert_eq!(date("2022-11-06T15:00:00-05:30").start_ms, ms("2022-11-06T20:30:00Z"));
        assert_eq!(date("2022-11-06T15:00+01:00").start_ms, ms("2022-11-06T14:00:00Z"));
        // `+01:00` sent unencoded arrives with a space instead of the plus.
        assert_eq!(date("2022-11-06T15:00 01:00").start_ms, ms("2022-11-06T14:00:00Z"));
        assert_eq!(date("2022-11-06T15:00+14:00").start_ms, ms("2022-11-06T01:00:00Z"));
    }

    #[test]
    fn test_leap_years() {
        assert!(parse_date_range("2024-02-29").is_ok());
        assert!(parse_date_range("2000-02-29").is_ok());
        assert!(parse_date_range("1900-02-29").is_err());
        assert!(parse_date_range("2023-02-29").is_err());
        assert_eq!(date("2024-02").end_ms - date("2024-02").start_ms, 29 * MS_PER_DAY);
        assert_eq!(date("2100-02").end_ms - date("2100-02").start_ms, 28 * MS_PER_DAY);
        assert_eq!(date("2000").end_ms - date("2000").start_ms, 366 * MS_PER_DAY);
    }

    #[test]
    fn test_date_bounds() {
        assert_eq!(date("0001-01-01").start_ms, ms("0001-01-01T00:00:00Z"));
        assert_eq!(date("9999-12-31T23:59:59.999Z").end_ms, ms("9999-12-31T23:59:59.999Z") + 1);
        assert_eq!(date("9999").end_ms, date("9999-12-31").end_ms);
    }

    #[test]
    fn test_invalid_dates_messages() {
        assert_eq!(
            error_text(parse_date_range("2023-02-30")),
            "invalid date \"2023-02-30\": day 30 does not exist in 2023-02; expected yyyy, yyyy-mm, \
             yyyy-mm-dd or yyyy-mm-ddThh:mm[:ss[.sss]] with an optional Z or ±hh:mm"
        );
        assert_eq!(
            error_text(parse_date_criterion("ge2023-13")),
            "invalid date \"ge2023-13\": month 13 is not in 01-12; expected yyyy, yyyy-mm, \
             yyyy-mm-dd or yyyy-mm-ddThh:mm[:ss[.sss]] with an optional Z or ±hh:mm"
        );
        let cases = [
            ("", "the value is empty"),
            ("23", "expected 4 digits for the year"),
            ("20231", "expected '-' after the year"),
            ("2023-1", "expected 2 digits for the month"),
            ("2023-00", "month 00 is not in 01-12"),
            ("2023-04-31", "day 31 does not exist in 2023-04"),
            ("2023-04-00", "day 00 does not exist in 2023-04"),
            ("0000", "year 0000 does not exist"),
            ("2023-04-01 10:00", "expected 'T' between the date and the time"),
            ("2023-04-01T10", "expected ':' after the hour"),
            ("2023-04-01T24:00", "time 24:00 does not exist"),
            ("2023-04-01T10:60", "time 10:60 does not exist"),
            ("2023-04-01T10:00:61", "second 61 does not exist"),
            ("2023-04-01T10:00:00.", "expected digits after '.'"),
            ("2023-04-01T10:00:00+1", "expected 2 digits for the offset hours"),
            ("2023-04-01T10:00:00+15:00", "offset 15:00 is beyond ±14:00"),
            ("2023-04-01T10:00:00Zjunk", "unexpected \"junk\" at the end"),
            ("2023-04-01T10:00:00X", "expected Z or ±hh:mm after the time"),
            ("2023-04-01Z", "expected 'T' between the date and the time"),
            ("2023-04-01T", "expected 2 digits for the hour"),
            ("2023-é", "unexpected non-ASCII character"),
        ];
        for (input, detail) in cases {
            assert_eq!(
                parse_date_range(input),
                Err(ValueError::InvalidDate { value: input.to_owned(), detail: detail.to_owned() }),
                "{input}"
            );
        }
    }

    #[test]
    fn test_leap_second_is_accepted() {
        assert_eq!(date("2016-12-31T23:59:60Z").start_ms, ms("2017-01-01T00:00:00Z"));
    }

    #[test]
    fn test_date_criterion_prefixes() {
        assert_eq!(criterion("ge2023-08-02").prefix, Prefix::Ge);
        assert_eq!(criterion("2023-08-02").prefix, Prefix::Eq);
        assert_eq!(criterion("eq2023-10-06T15:00").range, date("2023-10-06T15:00"));
    }

    #[test]
    fn test_date_matches_r4_table() {
        let search = "2023-08-02";
        let day_before = date("2023-08-01");
        let same_day = date("2023-08-02");
        let inside = date("2023-08-02T10:00");
        let day_after = date("2023-08-03");
        let straddling_start = DateRange {
            start_ms: date("2023-08-01T12:00").start_ms,
            end_ms: date("2023-08-02T12:00").start_ms,
        };
        let straddling_end = DateRange {
            start_ms: date("2023-08-02T12:00").start_ms,
            end_ms: date("2023-08-03T12:00").start_ms,
        };
        let whole_month = date("2023-08");
        let expectations: [(&str, [bool; 7]); 9] = [
            // before, same, inside, after, straddle start, straddle end, month
            ("eq", [false, true, true, false, false, false, false]),
            ("ne", [true, false, false, true, true, true, true]),
            ("gt", [false, false, false, true, false, true, true]),
            ("lt", [true, false, false, false, true, false, true]),
            ("ge", [false, true, true, true, false, true, true]),
            ("le", [true, true, true, false, true, false, true]),
            ("sa", [false, false, false, true, false, false, false]),
            ("eb", [true, false, false, false, false, false, false]),
            ("ap", [true, true, true, true, true, true, true]),
        ];
        let stored = [day_before, same_day, inside, day_after, straddling_start, straddling_end, whole_month];
        let now_ms = date("2023-08-10").start_ms;
        for (prefix, expected) in expectations {
            let search_criterion = criterion(&format!("{prefix}{search}"));
            let actual: Vec<bool> =
                stored.iter().map(|range| date_matches_at(&search_criterion, *range, now_ms)).collect();
            assert_eq!(actual, expected.to_vec(), "{prefix}");
        }
    }

    #[test]
    fn test_date_ap_widening() {
        let now_ms = date("2023-01-01").start_ms;
        // 10 years before now: widened by about a year.
        let approx = criterion("ap2013-01-01");
        assert!(date_matches_at(&approx, date("2013-11"), now_ms));
        assert!(!date_matches_at(&approx, date("2014-03"), now_ms));
        // Close to now: at least one day on each side.
        let recent = criterion("ap2023-01-01");
        assert!(date_matches_at(&recent, date("2022-12-31T12:00"), now_ms));
        assert!(!date_matches_at(&recent, date("2022-12-30T12:00"), now_ms));
        // The public function uses the real clock.
        assert!(date_matches(&criterion("ap2013-01-01"), date("2013-01-01")));
    }

    #[test]
    fn test_number_precision() {
        let hundred = number("100");
        assert_eq!((hundred.prefix, hundred.value, hundred.precision_half_width), (Prefix::Eq, 100.0, 0.5));
        let precise = number("100.00");
        assert!((precise.precision_half_width - 0.005).abs() < 1e-12);
        let exponent = number("1e2");
        assert_eq!((exponent.value, exponent.precision_half_width), (100.0, 50.0));
        let small = number("2.5e-3");
        assert_eq!(small.value, 0.0025);
        assert!((small.precision_half_width - 0.00005).abs() < 1e-15);
        let negative = number("lt-3");
        assert_eq!((negative.prefix, negative.value), (Prefix::Lt, -3.0));
        assert_eq!(number("gt0").prefix, Prefix::Gt);
        assert_eq!(number("1E+2").value, 100.0);
    }

    #[test]
    fn test_invalid_numbers() {
        for input in [
            "", "ltX", "ltXR", "X", ".5", "5.", "+1", "1e", "inf", "NaN", "1e999", "1,5", "--1", "1e2.5",
            "0x10",
        ] {
            assert_eq!(
                parse_number_criterion(input),
                Err(ValueError::InvalidNumber { value: input.to_owned() }),
                "{input}"
            );
        }
        assert_eq!(
            error_text(parse_number_criterion("ltX")),
            "invalid number \"ltX\": expected an optional prefix (eq, ne, gt, lt, ge, le, sa, eb, ap) \
             and a decimal such as 100, -2.5 or 1e2"
        );
    }

    #[test]
    fn test_number_matches() {
        let cases: [(&str, f64, bool); 22] = [
            ("100", 99.5, true),
            ("100", 100.49, true),
            ("100", 100.5, false),
            ("100", 99.4, false),
            ("ne100", 100.2, false),
            ("ne100", 101.0, true),
            ("gt0", 1.0, true),
            ("gt0", 0.0, false),
            ("lt100", 99.9, true),
            ("lt100", 100.0, false),
            ("ge200", 200.0, true),
            ("ge200", 199.9, false),
            ("le35", 35.0, true),
            ("le35", 35.1, false),
            ("sa100", 100.4, false),
            ("sa100", 100.5, true),
            ("eb100", 99.6, false),
            ("eb100", 99.4, true),
            ("ap100", 110.0, true),
            ("ap100", 111.0, false),
            ("1e2", 140.0, true),
            ("ap0", 0.4, true),
        ];
        for (search, stored, expected) in cases {
            assert_eq!(number_matches(&number(search), stored), expected, "{search} vs {stored}");
        }
    }

    #[test]
    fn test_quantities() {
        let kilograms = parse_quantity_criterion("ge200|http://unitsofmeasure.org|kg");
        assert_eq!(
            kilograms,
            Ok(QuantityCriterion {
                number: NumberCriterion { prefix: Prefix::Ge, value: 200.0, precision_half_width: 0.5 },
                system: Some("http://unitsofmeasure.org".to_owned()),
                code: Some("kg".to_owned()),
            })
        );
        let years = parse_quantity_criterion("le35|https://unitsofmeasure.org|a");
        assert_eq!(
            years.as_ref().map(|quantity| (
                quantity.number.prefix,
                quantity.system.as_deref(),
                quantity.code.as_deref()
            )),
            Ok((Prefix::Le, Some("https://unitsofmeasure.org"), Some("a")))
        );
        let any_system = parse_quantity_criterion("5.4||mg");
        assert_eq!(
            any_system.as_ref().map(|quantity| (
                quantity.number.value,
                quantity.system.clone(),
                quantity.code.clone()
            )),
            Ok((5.4, None, Some("mg".to_owned())))
        );
        let bare = parse_quantity_criterion("gt0");
        assert_eq!(
            bare.as_ref().map(|quantity| (quantity.system.clone(), quantity.code.clone())),
            Ok((None, None))
        );
        let escaped = parse_quantity_criterion(r"1|sys\|tem|c\\d");
        assert_eq!(
            escaped.map(|quantity| (quantity.system, quantity.code)),
            Ok((Some("sys|tem".to_owned()), Some(r"c\d".to_owned())))
        );
    }

    #[test]
    fn test_invalid_quantities() {
        assert_eq!(
            error_text(parse_quantity_criterion("5.4|mg")),
            "invalid quantity \"5.4|mg\": found 2 |-separated parts, expected 1 or 3; expected \
             [prefix]number, [prefix]number|system|code or [prefix]number||code"
        );
        assert_eq!(
            parse_quantity_criterion("ltX|http://unitsofmeasure.org|kg"),
            Err(ValueError::InvalidQuantity {
                value: "ltX|http://unitsofmeasure.org|kg".to_owned(),
                detail: "\"ltX\" is not a number".to_owned()
            })
        );
        assert!(parse_quantity_criterion("1|a|b|c").is_err());
        assert!(parse_quantity_criterion("").is_err());
    }

    #[test]
    fn test_tokens() {
        let token = |system: Option<&str>, code: Option<&str>| {
            Ok(TokenValue { system: system.map(str::to_owned), code: code.map(str::to_owned) })
        };
        assert_eq!(parse_token("52"), token(None, Some("52")));
        assert_eq!(
            parse_token("https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle|227"),
            token(Some("https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle"), Some("227"))
        );
        assert_eq!(parse_token("|code"), token(Some(""), Some("code")));
        assert_eq!(parse_token("system|"), token(Some("system"), None));
        assert_eq!(parse_token("52/192675"), token(None, Some("52/192675")));
        assert_eq!(parse_token(r"a\|b"), token(None, Some("a|b")));
        assert_eq!(parse_token(r"s|a\|b|c"), token(Some("s"), Some("a|b|c")));
        assert_eq!(parse_token(r"s\\|c\$"), token(Some(r"s\"), Some("c$")));
        assert_eq!(parse_token("true"), token(None, Some("true")));
    }

    #[test]
    fn test_invalid_tokens() {
        assert_eq!(
            error_text(parse_token("")),
            "invalid token \"\": the value is empty; expected code, system|code, |code or system|"
        );
        assert_eq!(
            parse_token("|"),
            Err(ValueError::InvalidToken {
                value: "|".to_owned(),
                detail: "both system and code are empty".to_owned()
            })
        );
    }

    #[test]
    fn test_near() {
        let near = parse_near("47.21827323906432|-1.6369631507460436|15|km");
        assert_eq!(near, Ok(Near { lat: 47.21827323906432, lon: -1.6369631507460436, radius_m: 15_000.0 }));
        assert_eq!(parse_near("47|-1|500|m").map(|near| near.radius_m), Ok(500.0));
        assert_eq!(parse_near("47|-1|2|mi").map(|near| near.radius_m), Ok(3_218.688));
        assert_eq!(parse_near("47|-1|2|[mi_i]").map(|near| near.radius_m), Ok(3_218.688));
        assert_eq!(parse_near("47|-1|15").map(|near| near.radius_m), Ok(15_000.0));
        assert_eq!(parse_near("47|-1").map(|near| near.radius_m), Ok(10_000.0));
        assert_eq!(parse_near("47|-1||m").map(|near| near.radius_m), Ok(10_000.0));
        assert_eq!(parse_near("-90|180|1e-3").map(|near| near.radius_m), Ok(1.0));
    }

    #[test]
    fn test_invalid_near() {
        let detail = |input: &str| match parse_near(input) {
            Err(ValueError::InvalidNear { detail, .. }) => detail,
            other => panic!("{input}: {other:?}"),
        };
        assert_eq!(detail("47"), "found 1 |-separated parts, expected 2 to 4");
        assert_eq!(detail("91|0|1|km"), "latitude \"91\" is not a number in [-90, 90]");
        assert_eq!(detail("0|-180.5|1|km"), "longitude \"-180.5\" is not a number in [-180, 180]");
        assert_eq!(detail("0|0|0|km"), "distance \"0\" is not a positive number");
        assert_eq!(detail("0|0|-5|km"), "distance \"-5\" is not a positive number");
        assert_eq!(detail("0|0|5|ft"), "unknown distance unit \"ft\"");
        assert_eq!(detail("0|0|1e308|km"), "distance \"1e308\" is not a positive number");
        assert_eq!(detail("a|0"), "latitude \"a\" is not a number in [-90, 90]");
        assert_eq!(
            error_text(parse_near("0|0|5|ft")),
            "invalid near \"0|0|5|ft\": unknown distance unit \"ft\"; expected \
             latitude|longitude[|distance[|unit]] with unit km, m, mi or [mi_i]"
        );
    }

    #[test]
    fn test_near_insee() {
        assert_eq!(
            parse_near_insee("44162|15|km"),
            Ok(NearInsee { cog: "44162".to_owned(), radius_m: 15_000.0 })
        );
        assert_eq!(
            parse_near_insee("2a004|500|m"),
            Ok(NearInsee { cog: "2A004".to_owned(), radius_m: 500.0 })
        );
        assert_eq!(parse_near_insee("97411").map(|near| near.radius_m), Ok(10_000.0));
        assert_eq!(parse_near_insee("2B033|3").map(|near| near.radius_m), Ok(3_000.0));
    }

    #[test]
    fn test_invalid_near_insee() {
        assert_eq!(
            error_text(parse_near_insee("4416|15|km")),
            "invalid near-insee-code \"4416|15|km\": \"4416\" is not a commune code (5 characters: \
             2 for the department, 2A/2B in Corsica, then 3 digits); expected a commune code (COG) \
             with an optional distance and unit, e.g. 44162|15|km"
        );
        for input in ["3A004|1", "441620", "44A62", "", "44162|1|km|x", "44162|x", "4416é"] {
            assert!(parse_near_insee(input).is_err(), "{input}");
        }
    }

    #[test]
    fn test_count() {
        assert_eq!(parse_count("0", 1000), Ok(0));
        assert_eq!(parse_count("200", 1000), Ok(200));
        assert_eq!(parse_count("5000", 1000), Ok(1000));
        assert_eq!(parse_count("99999999999999999999", 1000), Ok(1000));
        for input in ["", "-1", "+1", "1.0", "ten", " 1"] {
            assert_eq!(parse_count(input, 1000), Err(ValueError::InvalidCount { value: input.to_owned() }));
        }
        assert_eq!(
            error_text(parse_count("-1", 10)),
            "invalid _count \"-1\": expected a non-negative integer"
        );
    }

    #[test]
    fn test_spec_example_values() {
        assert!(parse_date_criterion("ge2023-08-02").is_ok());
        assert!(parse_date_criterion("ge2022-11-06T15:00").is_ok());
        assert!(parse_date_criterion("eq2023-10-06T15:00").is_ok());
        assert!(parse_number_criterion("gt0").is_ok());
        assert!(parse_number_criterion("ltX").is_err());
        assert!(parse_quantity_criterion("ge200|http://unitsofmeasure.org|kg").is_ok());
        assert!(parse_quantity_criterion("le35|https://unitsofmeasure.org|a").is_ok());
        assert!(parse_quantity_criterion("ge35|https://unitsofmeasure.org|a").is_ok());
        assert!(parse_near("47.21827323906432|-1.6369631507460436|15|km").is_ok());
        assert!(parse_near_insee("44162|15|km").is_ok());
        for token in ["R211|227", "52", "11/339772", "UE1", "R352|02", "true"] {
            assert!(parse_token(token).is_ok(), "{token}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(512)
        ))]

        #[test]
        fn test_proptest_compiled_date_test_agrees(
            prefixes in proptest::collection::vec(0usize..9, 1..4),
            search_start in -1_000_000i64..1_000_000,
            search_width in 1i64..100_000,
            stored_start in -1_200_000i64..1_200_000,
            stored_width in 0i64..300_000,
            now in -2_000_000i64..2_000_000,
        ) {
            let criteria = comma_list(&prefixes, search_start, search_width, 7_919);
            let stored = DateRange { start_ms: stored_start, end_ms: stored_start + stored_width };
            let expected = criteria.iter().any(|c| date_matches_at(c, stored, now));
            prop_assert_eq!(DateTest::new(&criteria, now).matches(stored), expected);
        }

        #[test]
        fn test_proptest_value_parsers_never_panic(value in ".{0,60}", max in any::<u32>()) {
            let _ = split_prefix(&value);
            let _ = parse_date_range(&value);
            if let Ok(criterion) = parse_date_criterion(&value) {
                let _ = date_matches(&criterion, criterion.range);
            }
            if let Ok(criterion) = parse_number_criterion(&value) {
                let _ = number_matches(&criterion, 0.0);
            }
            let _ = parse_quantity_criterion(&value);
            let _ = parse_token(&value);
            let _ = parse_near(&value);
            let _ = parse_near_insee(&value);
            let _ = parse_count(&value, max);
        }

        #[test]
        fn test_proptest_date_like_never_panics(value in r"(ge|lt|sa|ap)?[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+ -][0-9]{2}:[0-9]{2})?)?)?)?", now in any::<i64>()) {
            if let Ok(criterion) = parse_date_criterion(&value) {
                prop_assert!(criterion.range.start_ms < criterion.range.end_ms);
                let _ = date_matches_at(&criterion, criterion.range, now);
            }
        }

        #[test]
        fn test_proptest_days_match_chrono(year in 1i32..=9999, month in 1u32..=12, day in 1u32..=31) {
            let ours = parse_date_range(&format!("{year:04}-{month:02}-{day:02}"));
            let chrono_date = chrono::NaiveDate::from_ymd_opt(year, month, day);
            match (ours, chrono_date) {
                (Ok(range), Some(naive)) => {
                    let expected = naive.and_hms_opt(0, 0, 0).map(|datetime| datetime.and_utc().timestamp_millis());
                    prop_assert_eq!(Some(range.start_ms), expected);
                    prop_assert_eq!(range.end_ms - range.start_ms, MS_PER_DAY);
                }
                (Err(_), None) => {}
                (ours, theirs) => prop_assert!(false, "{:?} vs {:?}", ours, theirs),
            }
        }

        #[test]
        fn test_proptest_eq_matches_own_range(value in r"[0-9]{4}(-0[1-9](-[012][0-9](T[01][0-9]:[0-5][0-9](:[0-5][0-9])?Z)?)?)?") {
            if let Ok(criterion) = parse_date_criterion(&value) {
                prop_assert!(date_matches_at(&criterion, criterion.range, 0));
                let ge = DateCriterion { prefix: Prefix::Ge, range: criterion.range };
                let sa = DateCriterion { prefix: Prefix::Sa, range: criterion.range };
                prop_assert!(date_matches_at(&ge, criterion.range, 0));
                prop_assert!(!date_matches_at(&sa, criterion.range, 0));
            }
        }
    }
}
