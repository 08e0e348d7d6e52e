//! The job graph of a run as SVG: one column per depth (the longest chain of `needs`
//! before a job), jobs in plan order within a column, an edge from each need, each box
//! coloured by its job's status and linked to the job's page. Every name is escaped.

use std::collections::HashMap;
use std::fmt::Write as _;

/// One job to draw.
pub(crate) struct Node<'a> {
    pub id: &'a str,
    pub needs: &'a [String],
    pub status: &'a str,
    pub href: String,
}

const W: usize = 170;
const H: usize = 34;
const GAP_X: usize = 56;
const GAP_Y: usize = 14;
const PAD: usize = 8;

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The SVG of `nodes` (in plan order, needs before the jobs that need them).
pub(crate) fn svg(nodes: &[Node<'_>]) -> String {
    let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let mut depth = vec![0usize; nodes.len()];
    // Plan order puts needs first; a few passes settle any other order.
    for _ in 0..nodes.len().min(64) {
        let mut moved = false;
        for (i, n) in nodes.iter().enumerate() {
            let d = n
                .needs
                .iter()
                .filter_map(|need| index.get(need.as_str()))
                .map(|&j| depth[j] + 1)
                .max()
                .unwrap_or(0);
            if d > depth[i] {
                depth[i] = d;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let mut rows = vec![0usize; nodes.len()];
    let mut per_column: HashMap<usize, usize> = HashMap::new();
    for (i, d) in depth.iter().enumerate() {
        let r = per_column.entry(*d).or_default();
        rows[i] = *r;
        *r += 1;
    }
    let columns = depth.iter().max().map_or(0, |d| d + 1);
    let tallest = per_column.values().max().copied().unwrap_or(0);
    let width = PAD * 2 + columns * W + columns.saturating_sub(1) * GAP_X;
    let height = PAD * 2 + tallest * H + tallest.saturating_sub(1) * GAP_Y;
    let at = |i: usize| (PAD + depth[i] * (W + GAP_X), PAD + rows[i] * (H + GAP_Y));
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"job graph\">"
    );
    for (i, n) in nodes.iter().enumerate() {
        for need in n.needs {
            let Some(&j) = index.get(need.as_str()) else {
                continue;
            };
            let (x1, y1) = at(j);
            let (x2, y2) = at(i);
            let (x1, y1, x2, y2) = (x1 + W, y1 + H / 2, x2, y2 + H / 2);
            let mid = (x1 + x2) / 2;
            let _ = write!(
                out,
                "<path class=\"edge\" d=\"M{x1} {y1} C{mid} {y1} {mid} {y2} {x2} {y2}\"/>"
            );
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        let (x, y) = at(i);
        let label: String = if n.id.chars().count() > 22 {
            n.id.chars().take(21).chain(['…']).collect()
        } else {
            n.id.to_string()
        };
        let _ = write!(
            out,
            "<a href=\"{href}\" class=\"node s-{status}\" data-job=\"{id}\"><title>{id}: {status}</title><rect x=\"{x}\" y=\"{y}\" width=\"{W}\" height=\"{H}\" rx=\"6\"/><text x=\"{tx}\" y=\"{ty}\">{label}</text></a>",
            href = esc(&n.href),
            status = esc(n.status),
            id = esc(n.id),
            tx = x + 10,
            ty = y + H / 2 + 5,
            label = esc(&label),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_needs_and_names_are_escaped() {
        let none: Vec<String> = vec![];
        let a = vec!["build".to_string()];
        let nodes = [
            Node {
                id: "build",
                needs: &none,
                status: "success",
                href: "/j/build".into(),
            },
            Node {
                id: "<script>",
                needs: &a,
                status: "failed",
                href: "/j/x".into(),
            },
        ];
        let svg = svg(&nodes);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(
            svg.contains("x=\"234\""),
            "the second job is in the second column: {svg}"
        );
        assert!(svg.contains("class=\"node s-failed\""));
        assert_eq!(svg.matches("<path").count(), 1);
    }
}
