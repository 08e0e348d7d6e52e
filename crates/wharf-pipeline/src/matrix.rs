//! Job matrices: one job run once per combination of axis values.
//!
//! The size is computed from the axis lengths before anything is expanded, so a hostile
//! `matrix:` of 10^12 cells is rejected instantly instead of exhausting memory.

use serde_saphyr::Spanned;

use crate::file::{CellsFile, MatrixFile};
use crate::reporter::Reporter;

/// The most cells one job's matrix may expand to.
pub const MAX_CELLS: usize = 256;

/// Cross products larger than this are not even enumerated to apply `exclude`.
const MAX_ENUMERATED: u128 = 1 << 16;

/// One combination: axis names and values, axes in file order.
pub type Cell = Vec<(String, String)>;

/// A validated matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// Axes and their values, in file order.
    pub axes: Vec<(String, Vec<String>)>,
    /// Cells added after the cross product.
    pub include: Vec<Cell>,
    /// Partial cells: a product cell matching every pair of one is dropped.
    pub exclude: Vec<Cell>,
}

impl Matrix {
    /// Every key a cell may have: the axes, then keys only `include` adds.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.axes.iter().map(|(k, _)| k.as_str()).collect();
        for cell in &self.include {
            for (k, _) in cell {
                if !keys.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
        }
        keys
    }

    /// The size of the cross product, saturating.
    pub fn product_size(&self) -> u128 {
        self.axes
            .iter()
            .try_fold(1u128, |acc, (_, v)| acc.checked_mul(v.len() as u128))
            .unwrap_or(u128::MAX)
    }

    /// The number of cells, or `Err(product size)` when the product is too large to count.
    pub fn count(&self) -> Result<usize, u128> {
        let product = self.product_size();
        if product > MAX_ENUMERATED {
            return Err(product);
        }
        Ok(self.cells().len())
    }

    /// Every cell: the cross product (first axis outermost) minus `exclude`, then each
    /// `include` cell that is not already there. Call only after [`Matrix::count`] said
    /// the size is reasonable.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells: Vec<Cell> = vec![Vec::new()];
        if self.axes.is_empty() {
            cells.clear();
        }
        for (axis, values) in &self.axes {
            let mut next = Vec::with_capacity(cells.len() * values.len());
            for cell in &cells {
                for value in values {
                    let mut c = cell.clone();
                    c.push((axis.clone(), value.clone()));
                    next.push(c);
                }
            }
            cells = next;
        }
        cells.retain(|cell| !self.exclude.iter().any(|ex| is_subset(ex, cell)));
        for extra in &self.include {
            if !cells.iter().any(|c| same_cell(c, extra)) {
                cells.push(extra.clone());
            }
        }
        cells
    }
}

/// The job id of a cell: `name (k=v, k2=v2)`.
pub fn cell_id(job: &str, cell: &Cell) -> String {
    if cell.is_empty() {
        return job.to_string();
    }
    let pairs: Vec<String> = cell.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{job} ({})", pairs.join(", "))
}

/// The environment variable that carries a matrix key's value to one cell's process in an
/// exported CI file (`wharf run JOB --no-deps --from-ci` reads it to pick the cell):
/// `WHARF_MATRIX_` and the key, `-` written `_` (platforms' variable names are
/// `[A-Za-z0-9_]`).
pub fn env_var(key: &str) -> String {
    format!("WHARF_MATRIX_{}", key.replace('-', "_"))
}

/// Whether `cell` is the one the values `value_of(env_var(key))` describe: every key the
/// matrix has (`keys`) carries the cell's value, or is unset or empty where the cell has
/// no such key (an `include` cell without it).
pub fn cell_matches(keys: &[&str], cell: &Cell, value_of: &dyn Fn(&str) -> Option<String>) -> bool {
    keys.iter().all(|k| {
        let want = cell
            .iter()
            .find(|(ck, _)| ck == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        value_of(&env_var(k)).unwrap_or_default() == want
    })
}

fn is_subset(part: &Cell, cell: &Cell) -> bool {
    part.iter().all(|pair| cell.contains(pair))
}

fn same_cell(a: &Cell, b: &Cell) -> bool {
    a.len() == b.len() && is_subset(a, b)
}

/// Validates a job's `matrix:` (non-empty axes, `exclude` keys that are axes, the size).
pub(crate) fn matrix_from_file(r: &mut Reporter, spanned: &Spanned<MatrixFile>) -> Option<Matrix> {
    let file = &spanned.value;
    let mut ok = true;
    let mut matrix = Matrix {
        axes: Vec::new(),
        include: cells(&file.include),
        exclude: cells(&file.exclude),
    };
    for (axis, values) in &file.axes {
        if !crate::validate::is_identifier(&axis.value) {
            ok = false;
            r.error(
                r.span(axis),
                format!("invalid matrix axis name `{}`", axis.value),
                "use letters, digits, `_` and `-`, starting with a letter or `_`",
            );
        }
        if values.is_empty() {
            ok = false;
            r.error(
                r.span(axis),
                format!("matrix axis `{}` has no values", axis.value),
                "empty list",
            );
        }
        matrix.axes.push((
            axis.value.clone(),
            values.iter().map(|v| v.value.0.clone()).collect(),
        ));
    }
    if file.axes.is_empty() && file.include.is_empty() {
        ok = false;
        r.error(
            r.span(spanned),
            "matrix has no axes",
            "expected `AXIS: [values]`",
        );
    }
    for cell in &file.exclude {
        for (key, _) in &cell.value.0 {
            if !matrix.axes.iter().any(|(a, _)| *a == key.value) {
                ok = false;
                let axes: Vec<&str> = matrix.axes.iter().map(|(a, _)| a.as_str()).collect();
                let d = r
                    .at(
                        r.span(key),
                        format!(
                            "`exclude` names `{}`, which is not a matrix axis",
                            key.value
                        ),
                    )
                    .with_label("unknown axis")
                    .with_hint_opt(crate::suggest::did_you_mean(
                        &key.value,
                        axes.iter().copied(),
                    ));
                r.push(d);
            }
        }
    }
    if !ok {
        return None;
    }
    let too_many = match matrix.count() {
        Ok(n) if n <= MAX_CELLS => None,
        Ok(n) => Some(n.to_string()),
        Err(product) if product == u128::MAX => Some("more than 2^128".to_string()),
        Err(product) => Some(product.to_string()),
    };
    if let Some(n) = too_many {
        let d = r
            .at(
                key_span(r, spanned),
                format!("matrix expands to {n} jobs; the limit is {MAX_CELLS}"),
            )
            .with_label("too many combinations")
            .with_hint("split the job, or narrow the axes with `exclude:`");
        r.push(d);
        return None;
    }
    Some(matrix)
}

/// The `matrix` key before the mapping's start (the parser gives positions of values, not
/// of struct keys); the mapping's start when the key is not found.
fn key_span(r: &Reporter, spanned: &Spanned<MatrixFile>) -> std::ops::Range<usize> {
    let value = r.span(spanned);
    let before = &r.source[..value.start];
    match before.rfind("matrix") {
        Some(i) if before[i + 6..].trim_start().starts_with(':') => i..i + 6,
        _ => value,
    }
}

fn cells(list: &CellsFile) -> Vec<Cell> {
    list.iter()
        .map(|c| {
            c.value
                .0
                .iter()
                .map(|(k, v)| (k.value.clone(), v.value.0.clone()))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Cell {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn axes(a: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        a.iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn cross_product_in_key_order_with_include_and_exclude() {
        let m = Matrix {
            axes: axes(&[("os", &["linux", "mac"]), ("py", &["3.12", "3.13"])]),
            include: vec![
                pairs(&[("os", "windows"), ("py", "3.13")]),
                pairs(&[("os", "linux"), ("py", "3.12")]),
            ],
            exclude: vec![pairs(&[("os", "mac"), ("py", "3.12")])],
        };
        let ids: Vec<String> = m.cells().iter().map(|c| cell_id("test", c)).collect();
        assert_eq!(
            ids,
            [
                "test (os=linux, py=3.12)",
                "test (os=linux, py=3.13)",
                "test (os=mac, py=3.13)",
                "test (os=windows, py=3.13)",
            ]
        );
        assert_eq!(m.count(), Ok(4));
    }

    #[test]
    fn partial_exclude_drops_every_match() {
        let m = Matrix {
            axes: axes(&[("os", &["linux", "mac"]), ("py", &["1", "2", "3"])]),
            include: vec![],
            exclude: vec![pairs(&[("os", "mac")])],
        };
        assert_eq!(m.count(), Ok(3));
    }

    #[test]
    fn huge_products_are_not_enumerated() {
        let values: Vec<&str> = vec!["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        let twelve: Vec<(&str, &[&str])> = [
            "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "b1", "b2", "b3",
        ]
        .into_iter()
        .map(|k| (k, values.as_slice()))
        .collect();
        let m = Matrix {
            axes: axes(&twelve),
            include: vec![],
            exclude: vec![],
        };
        let started = std::time::Instant::now();
        assert_eq!(m.count(), Err(1_000_000_000_000));
        assert!(started.elapsed().as_millis() < 100);
    }
}
