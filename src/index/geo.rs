//! Proximity engine: an R-tree of location points on the unit sphere. Euclidean order of
//! unit-sphere points equals great-circle order, so `nearest_neighbor_iter` walks locations
//! nearest first and the walk stops at the first one beyond the radius (the milli approach).

use rstar::primitives::GeomWithData;
use rstar::RTree;

use super::DocKey;

/// Mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

type GeoPoint = GeomWithData<[f64; 3], DocKey>;

/// (lat, lon) in degrees → unit-sphere xyz. The single place where FHIR's lat|lon order meets
/// geometry.
pub fn lat_lon_to_xyz(lat: f64, lon: f64) -> [f64; 3] {
    let (lat, lon) = (lat.to_radians(), lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// Great-circle distance in metres (haversine).
pub fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h =
        ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

#[derive(Default, Clone)]
pub struct GeoIndex {
    tree: RTree<GeoPoint>,
    /// (lat, lon) by location key, NaN for none: `near` over a few thousand candidate locations
    /// reads one slot each, where a hash map of 430,000 positions cost a probe and a cache miss
    /// (a fifth of a UC3 S6 request).
    positions: Vec<(f64, f64)>,
    count: usize,
}

const NO_POSITION: (f64, f64) = (f64::NAN, f64::NAN);

impl GeoIndex {
    pub fn bulk_load(points: Vec<(DocKey, (f64, f64))>) -> GeoIndex {
        let mut geo = GeoIndex::default();
        let table_len = points.iter().map(|(key, _)| *key as usize + 1).max().unwrap_or(0);
        geo.positions = vec![NO_POSITION; table_len];
        for (key, position) in &points {
            geo.set_position(*key, Some(*position));
        }
        let tree = RTree::bulk_load(
            points
                .into_iter()
                .map(|(key, (lat, lon))| GeoPoint::new(lat_lon_to_xyz(lat, lon), key))
                .collect(),
        );
        GeoIndex { tree, ..geo }
    }

    pub fn upsert(&mut self, key: DocKey, position: Option<(f64, f64)>) {
        if let Some((lat, lon)) = self.set_position(key, None) {
            self.tree.remove(&GeoPoint::new(lat_lon_to_xyz(lat, lon), key));
        }
        if let Some((lat, lon)) = position {
            self.tree.insert(GeoPoint::new(lat_lon_to_xyz(lat, lon), key));
            self.set_position(key, Some((lat, lon)));
        }
    }

    /// Sets the position of `key`, returning the one it replaces.
    fn set_position(&mut self, key: DocKey, position: Option<(f64, f64)>) -> Option<(f64, f64)> {
        let index = key as usize;
        if self.positions.len() <= index {
            // Nothing to clear beyond the table.
            position?;
            self.positions.resize(index + 1, NO_POSITION);
        }
        let slot = &mut self.positions[index];
        let previous = (!slot.0.is_nan()).then_some(*slot);
        *slot = position.unwrap_or(NO_POSITION);
        self.count = self.count + usize::from(position.is_some()) - usize::from(previous.is_some());
        previous
    }

    /// Rebuild the tree packed from the current points: a tree grown one insertion at a time
    /// (a rebuild from the store) has half-empty nodes, 66 MiB for the national 428,000 points
    /// where a bulk-loaded one takes a third of that.
    pub fn repack(&mut self) {
        let points = (0..self.positions.len() as DocKey)
            .filter_map(|key| self.position(key).map(|position| (key, position)))
            .collect();
        *self = GeoIndex::bulk_load(points);
    }

    pub fn position(&self, key: DocKey) -> Option<(f64, f64)> {
        self.positions.get(key as usize).copied().filter(|(lat, _)| !lat.is_nan())
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every point within `radius_m` of `center` (lat, lon), nearest first, with its distance.
    pub fn within(&self, center: (f64, f64), radius_m: f64) -> Vec<(DocKey, f64)> {
        let query = lat_lon_to_xyz(center.0, center.1);
        // Chord length of the radius, padded slightly so float error never drops a boundary point;
        // the exact haversine test below decides.
        let max_chord =
            2.0 * (radius_m / (2.0 * EARTH_RADIUS_M)).min(std::f64::consts::FRAC_PI_2).sin() + 1e-9;
        let mut out = Vec::new();
        for (point, distance_2) in self.tree.nearest_neighbor_iter_with_distance_2(query) {
            if distance_2.sqrt() > max_chord {
                break;
            }
            let key = point.data;
            if let Some(position) = self.position(key) {
                let distance = haversine_m(center, position);
                if distance <= radius_m {
                    out.push((key, distance));
                }
            }
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_haversine_paris_lyon() {
        let paris = (48.8566, 2.3522);
        let lyon = (45.7640, 4.8357);
        let distance = haversine_m(paris, lyon);
        assert!((distance - 392_000.0).abs() < 2_000.0, "{distance}");
    }

    #[test]
    fn test_within_nearest_first_and_upsert() {
        let mut geo = GeoIndex::bulk_load(vec![(1, (47.21, -1.55)), (2, (47.25, -1.60)), (3, (48.85, 2.35))]);
        let hits = geo.within((47.2, -1.6), 15_000.0);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![1, 2]);
        geo.upsert(2, None);
        geo.upsert(4, Some((47.2, -1.6)));
        let hits = geo.within((47.2, -1.6), 15_000.0);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![4, 1]);
        geo.repack();
        assert_eq!(geo.within((47.2, -1.6), 15_000.0), hits, "a repacked tree answers alike");
        assert!(hits[0].1 < 1.0);
        assert_eq!((geo.len(), geo.position(2), geo.position(4)), (3, None, Some((47.2, -1.6))));
        geo.upsert(4, Some((48.0, 2.0)));
        geo.upsert(9, None);
        assert_eq!((geo.len(), geo.position(4), geo.position(9)), (3, Some((48.0, 2.0)), None));
    }
}
