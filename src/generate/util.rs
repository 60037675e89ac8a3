//! Small deterministic helpers: stable hashing, per-entity random streams, timestamps and
//! distances.
//!
//! Every establishment gets its own random stream derived from the seed and its FINESS
//! number, so what is generated for it does not depend on which other establishments a
//! scale selects.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// FNV-1a, stable across platforms and releases (unlike `DefaultHasher`).
pub fn stable_hash(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A random stream for one entity (`domain` separates e.g. establishments from legal entities).
pub fn entity_rng(seed: u64, domain: &str, key: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(splitmix(
        seed ^ splitmix(stable_hash(domain) ^ stable_hash(key).rotate_left(17)),
    ))
}

/// A uniform number in [0, 1) derived from the seed and a key, without a stream.
pub fn unit_hash(seed: u64, domain: &str, key: &str) -> f64 {
    let bits = splitmix(seed ^ splitmix(stable_hash(domain)) ^ stable_hash(key));
    // 53 high bits give an exactly representable fraction.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), after H. Hinnant.
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = (if z >= 0 { z } else { z - 146_096 }) / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + (if month <= 2 { 1 } else { 0 });
    (year, month, day)
}

/// A point in time, in seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub i64);

impl Instant {
    pub const fn from_date(year: i64, month: u32, day: u32) -> Instant {
        Instant(days_from_civil(year, month, day) * 86_400)
    }

    /// A uniformly random second in `[from, to)`, restricted to office hours so the values
    /// look like manual updates.
    pub fn random_between(rng: &mut impl Rng, from: Instant, to: Instant) -> Instant {
        let first_day = from.0.div_euclid(86_400);
        let last_day = (to.0.div_euclid(86_400) - 1).max(first_day);
        let day = rng.random_range(first_day..=last_day);
        Instant(day * 86_400 + rng.random_range(6 * 3600..19 * 3600))
    }

    fn parts(self) -> (i64, u32, u32, i64, i64, i64) {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
    }

    /// `2025-04-08T13:05:27.000+00:00`, the form of `meta.lastUpdated` in the IG example.
    pub fn instant_millis(self) -> String {
        let (y, m, d, hh, mm, ss) = self.parts();
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.000+00:00")
    }

    /// `2017-11-27T17:12:28+00:00`.
    pub fn date_time(self) -> String {
        let (y, m, d, hh, mm, ss) = self.parts();
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}+00:00")
    }

    /// `2025-02-26T15:17:33Z`, the form of `capacityUpdateDate` in the IG example.
    pub fn date_time_z(self) -> String {
        let (y, m, d, hh, mm, ss) = self.parts();
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }

    /// `2025-04-08`.
    pub fn date(self) -> String {
        let (y, m, d, _, _, _) = self.parts();
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// Great-circle distance in kilometres.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0088;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
}

/// Moves a point by up to `max_metres` in a random direction, rounded to 6 decimals
/// (about 0.1 m), so sibling locations of one site do not sit on the exact same point.
pub fn jitter(rng: &mut impl Rng, lat: f64, lon: f64, max_metres: f64) -> (f64, f64) {
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let distance = rng.random_range(0.0..max_metres);
    let bearing = rng.random_range(0.0..std::f64::consts::TAU);
    let dlat = distance * bearing.cos() / METRES_PER_DEGREE;
    let dlon = distance * bearing.sin() / (METRES_PER_DEGREE * lat.to_radians().cos().max(0.01));
    (round6(lat + dlat), round6(lon + dlon))
}

pub fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_civil_round_trip() {
        for days in [-1, 0, 365, 17_897, 20_000, 20_454] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2019, 1, 1), 17_897);
        assert_eq!(Instant::from_date(2025, 2, 26).date(), "2025-02-26");
        assert_eq!(
            Instant(Instant::from_date(2025, 4, 8).0 + 47_127).instant_millis(),
            "2025-04-08T13:05:27.000+00:00"
        );
    }

    #[test]
    fn test_haversine_nantes_saint_herblain() {
        // Nantes centre to Saint-Herblain centre is about 7 km.
        let km = haversine_km(47.2184, -1.5536, 47.2246, -1.6306);
        assert!((5.0..8.0).contains(&km), "{km}");
    }

    #[test]
    fn test_jitter_stays_within_bound() {
        let mut rng = entity_rng(7, "test", "jitter");
        for _ in 0..1000 {
            let (lat, lon) = jitter(&mut rng, 47.2, -1.6, 200.0);
            assert!(haversine_km(47.2, -1.6, lat, lon) <= 0.201);
        }
    }

    #[test]
    fn test_streams_are_stable_and_distinct() {
        use rand::RngCore;
        let a = entity_rng(42, "eg", "010000024").next_u64();
        assert_eq!(a, entity_rng(42, "eg", "010000024").next_u64());
        assert_ne!(a, entity_rng(43, "eg", "010000024").next_u64());
        assert_ne!(a, entity_rng(42, "ej", "010000024").next_u64());
    }
}
