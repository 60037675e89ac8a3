//! The UCUM units ROR quantities use (equipment limits in kg, ages in years…), so that a search
//! in one unit finds values stored in another of the same dimension (`ge200|…|kg` finds
//! `250000 g`).

/// (dimension, factor to the dimension's base unit) of a UCUM unit code.
pub fn unit(code: &str) -> Option<(&'static str, f64)> {
    Some(match code {
        "g" => ("mass", 1.0),
        "kg" => ("mass", 1_000.0),
        "mg" => ("mass", 1e-3),
        "ug" => ("mass", 1e-6),
        "t" => ("mass", 1e6),
        "[lb_av]" => ("mass", 453.592_37),
        "m" => ("length", 1.0),
        "km" => ("length", 1_000.0),
        "cm" => ("length", 1e-2),
        "mm" => ("length", 1e-3),
        "[in_i]" => ("length", 0.0254),
        "s" => ("time", 1.0),
        "min" => ("time", 60.0),
        "h" => ("time", 3_600.0),
        "d" => ("time", 86_400.0),
        "wk" => ("time", 604_800.0),
        "mo" => ("time", 2_629_800.0),
        "a" => ("time", 31_557_600.0),
        "L" | "l" => ("volume", 1.0),
        "dL" | "dl" => ("volume", 0.1),
        "mL" | "ml" => ("volume", 1e-3),
        _ => return None,
    })
}

/// `value` in unit `from` expressed in unit `to`, when both are known UCUM units of one dimension.
pub fn convert(value: f64, from: &str, to: &str) -> Option<f64> {
    let (from_dimension, from_factor) = unit(from)?;
    let (to_dimension, to_factor) = unit(to)?;
    (from_dimension == to_dimension).then(|| value * from_factor / to_factor)
}

#[cfg(test)]
mod tests {
    use super::convert;

    #[test]
    fn test_convert_same_dimension_only() {
        assert_eq!(convert(250_000.0, "g", "kg"), Some(250.0));
        assert_eq!(convert(18.0, "a", "mo"), Some(18.0 * 12.0));
        assert_eq!(convert(1.0, "kg", "m"), None);
        assert_eq!(convert(1.0, "furlong", "m"), None);
    }
}
