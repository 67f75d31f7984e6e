//! Text matching for place names typed by people: case and accents do not matter.

/// Lowercase, without Portuguese diacritics, trimmed, inner spaces collapsed:
/// `"  SÃO  Paulo "` becomes `"sao paulo"`.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars().flat_map(char::to_lowercase) {
            out.push(match c {
                'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
                'é' | 'è' | 'ê' | 'ë' => 'e',
                'í' | 'ì' | 'î' | 'ï' => 'i',
                'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
                'ú' | 'ù' | 'û' | 'ü' => 'u',
                'ç' => 'c',
                other => other,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn folds_case_accents_and_spaces() {
        assert_eq!(super::fold("  SÃO  Paulo "), "sao paulo");
        assert_eq!(super::fold("Belém"), "belem");
        assert_eq!(super::fold("Foz do Iguaçu"), "foz do iguacu");
    }
}
