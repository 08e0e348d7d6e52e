//! Cycles in `needs`: found with a depth-first search and reported once each, as the
//! path a user can follow in the file (`a -> b -> c -> a`).

use serde_saphyr::Spanned;

use crate::file::JobFile;
use crate::reporter::Reporter;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    Active,
    Done,
}

/// Reports every cycle among `jobs`, at the `needs` entry that closes it in the first job
/// of the cycle (in file order). Unknown needs are ignored here (reported elsewhere).
pub(crate) fn report_cycles(r: &mut Reporter, jobs: &[(Spanned<String>, JobFile)]) {
    let index = |name: &str| jobs.iter().position(|(k, _)| k.value == name);
    let lists: Vec<Vec<Spanned<String>>> = jobs
        .iter()
        .map(|(_, j)| {
            j.needs
                .as_ref()
                .map(crate::scalar::Names::spanned)
                .unwrap_or_default()
        })
        .collect();
    let edges: Vec<Vec<(usize, &Spanned<String>)>> = jobs
        .iter()
        .zip(&lists)
        .map(|((k, _), list)| {
            list.iter()
                .filter(|n| n.value != k.value)
                .filter_map(|n| index(&n.value).map(|i| (i, n)))
                .collect()
        })
        .collect();
    let mut marks = vec![Mark::New; jobs.len()];
    for start in 0..jobs.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next edge to follow).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::Active;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&(to, _)) = edges[node].get(*next) {
                *next += 1;
                match marks[to] {
                    Mark::New => {
                        marks[to] = Mark::Active;
                        stack.push((to, 0));
                    }
                    Mark::Active => {
                        let from = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let cycle: Vec<usize> = stack[from..].iter().map(|(n, _)| *n).collect();
                        report(r, jobs, &edges, &cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
            }
        }
    }
}

fn report(
    r: &mut Reporter,
    jobs: &[(Spanned<String>, JobFile)],
    edges: &[Vec<(usize, &Spanned<String>)>],
    cycle: &[usize],
) {
    // Start the text at the job that comes first in the file, so it reads the same
    // whichever job the search started from.
    let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
    let ordered: Vec<usize> = cycle[first..]
        .iter()
        .chain(&cycle[..first])
        .copied()
        .collect();
    let mut names: Vec<&str> = ordered.iter().map(|&i| jobs[i].0.value.as_str()).collect();
    names.push(names[0]);
    let next = ordered.get(1).copied().unwrap_or(ordered[0]);
    let Some((_, need)) = edges[ordered[0]].iter().find(|(to, _)| *to == next) else {
        return;
    };
    let d = r
        .at(
            r.span(need),
            format!("dependency cycle: {}", names.join(" -> ")),
        )
        .with_label("this need closes a cycle")
        .with_hint("remove one of these `needs` entries");
    r.push(d);
}

#[cfg(test)]
mod tests {
    fn messages(text: &str) -> Vec<String> {
        match crate::parse("wharf.yml", text) {
            Ok(_) => Vec::new(),
            Err(ds) => {
                ds.0.into_iter()
                    .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
                    .collect()
            }
        }
    }

    #[test]
    fn cycles_are_printed_from_the_first_job() {
        let text = "version: 1\njobs:\n  a: { needs: [c], run: x }\n  b: { needs: [a], run: x }\n  c: { needs: [b], run: x }\n";
        assert_eq!(messages(text), ["3:16 dependency cycle: a -> c -> b -> a"]);
    }

    #[test]
    fn separate_cycles_are_each_reported_once() {
        let text = "version: 1\njobs:\n  a: { needs: [b], run: x }\n  b: { needs: [a], run: x }\n  c: { needs: [d, a], run: x }\n  d: { needs: [c], run: x }\n";
        assert_eq!(
            messages(text),
            [
                "3:16 dependency cycle: a -> b -> a",
                "5:16 dependency cycle: c -> d -> c"
            ]
        );
    }

    #[test]
    fn diamonds_are_not_cycles() {
        let text = "version: 1\njobs:\n  a: { run: x }\n  b: { needs: [a], run: x }\n  c: { needs: [a], run: x }\n  d: { needs: [b, c], run: x }\n";
        assert!(messages(text).is_empty());
    }
}
