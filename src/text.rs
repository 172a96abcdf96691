//! Small helpers every layer may use: names (what a rule can write, what the store reserves),
//! "did you mean" hints, natural order, and globs in natural order.

/// Edit distance counting a swap of two neighbouring letters as one edit (optimal string
/// alignment), for "did you mean" hints: `emial` is one edit from `email`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = (a[i - 1] != b[j - 1]) as usize;
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Compares names so that embedded numbers sort by value: `page-2` before `page-10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (trim_zeros(&x[..nx]), trim_zeros(&y[..ny]));
                let ord = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|c| **c == b'0').count();
    &d[n.min(d.len().saturating_sub(1))..]
}

/// Whether `s` is a name a rule can write: a letter or `_`, then letters, digits or `_`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Entity columns must be names a rule can write, and not one of the store's own (its
/// bookkeeping columns, and SQLite's names for a row's id).
pub fn check_column_name(name: &str) -> Result<(), String> {
    if !is_identifier(name) {
        Err(format!("`{name}` is not a usable column name (a letter or `_` followed by letters, digits or `_`); map it with `columns = {{ new_name = \"{name}\" }}`"))
    } else if ["_key", "_hash", "_from", "_to", "rowid", "oid", "_rowid_"]
        .contains(&name.to_ascii_lowercase().as_str())
    {
        Err(format!("`{name}` is reserved for the store's own bookkeeping; map it to another name with `columns`"))
    } else {
        Ok(())
    }
}

/// The files a glob pattern matches, in natural order (page-2 before page-10).
pub fn files_matching(pattern: &str) -> Result<Vec<std::path::PathBuf>, glob::PatternError> {
    let mut found: Vec<std::path::PathBuf> = glob::glob(pattern)?
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file())
        .collect();
    found.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_typos_but_not_unrelated_names() {
        assert_eq!(
            nearest("emial", ["email", "name"].into_iter()),
            Some("email")
        );
        assert_eq!(nearest("zzz", ["email", "name"].into_iter()), None);
    }

    #[test]
    fn natural_order_sorts_page_numbers_by_value() {
        let mut v = vec!["page-10.json", "page-2.json", "page-1.json"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["page-1.json", "page-2.json", "page-10.json"]);
    }
}
