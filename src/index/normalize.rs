//! String normalization for FHIR string search: case- and accent-insensitive (R4 §3.1.1.4.7).

/// Lowercase, strip diacritics, fold ligatures and collapse whitespace.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_was_space = true;
    for ch in text.chars() {
        for lower in ch.to_lowercase() {
            let folded: &str = match lower {
                'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' | 'ā' => "a",
                'ç' | 'ć' | 'č' => "c",
                'é' | 'è' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
                'î' | 'ï' | 'í' | 'ì' | 'ī' => "i",
                'ô' | 'ö' | 'ó' | 'ò' | 'õ' | 'ø' | 'ō' => "o",
                'ù' | 'û' | 'ü' | 'ú' | 'ū' => "u",
                'ÿ' | 'ý' => "y",
                'ñ' | 'ń' => "n",
                'œ' => "oe",
                'æ' => "ae",
                'ß' => "ss",
                '’' | '‘' | '`' => "'",
                c if c.is_whitespace() => " ",
                _ => {
                    last_was_space = false;
                    out.push(lower);
                    continue;
                }
            };
            if folded == " " {
                if !last_was_space {
                    out.push(' ');
                }
                last_was_space = true;
            } else {
                out.push_str(folded);
                last_was_space = false;
            }
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn test_normalize_folds_case_accents_and_space() {
        assert_eq!(normalize("  Hôpital  Saint-Étienne "), "hopital saint-etienne");
        assert_eq!(normalize("Cœur"), "coeur");
    }
}
