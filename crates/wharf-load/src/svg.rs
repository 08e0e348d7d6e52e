//! The latency histogram as an image, for the run's artifacts and the run page: a
//! hand-written, self-contained SVG (no script, no external font or link), bars of the
//! share of answers by latency on a log axis, the p50/p90/p99 markers, each latency
//! threshold as a line coloured by its verdict, and a title with the URL, duration and
//! throughput.

use std::fmt::Write as _;

use crate::duration::format_us;
use crate::report::Report;
use crate::spec::Mode;
use crate::verdict::percent;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 450.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 830.0;
const TOP: f64 = 82.0;
const BOTTOM: f64 = 360.0;
const PASS: &str = "#2e7d32";
const FAIL: &str = "#c62828";

/// The report's latency histogram as an SVG document.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<title>{}</title>
<rect width="100%" height="100%" fill="white"/>
"#,
        esc(&format!("Latency of {} {}", r.method, r.url))
    );
    header(&mut s, r);
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        RIGHT - LEFT,
        BOTTOM - TOP
    );
    if plottable(r) {
        plot(&mut s, r);
    } else {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#666">no answers to plot</text>"##,
            (LEFT + RIGHT) / 2.0,
            (TOP + BOTTOM) / 2.0
        );
    }
    footer(&mut s, r);
    s.push_str("</svg>\n");
    s
}

fn plottable(r: &Report) -> bool {
    r.latency.is_some() && !r.histogram.is_empty()
}

fn header(s: &mut String, r: &Report) {
    let pacing = match r.mode {
        Mode::Closed { connections } => format!("closed loop, {connections} connections"),
        Mode::Open { rate, connections } => {
            format!("open loop at {rate} requests/s, {connections} connections")
        }
    };
    let verdict = if r.checks.is_empty() {
        String::new()
    } else if r.passed {
        " — thresholds passed".to_owned()
    } else {
        " — thresholds FAILED".to_owned()
    };
    let line2 = format!(
        "{} measured{}, {pacing}: {:.1} requests/s, {} requests, {} errors ({}){verdict}",
        r.duration,
        if r.cancelled { " (cancelled)" } else { "" },
        r.throughput,
        r.requests,
        r.errors.total,
        percent(r.error_rate)
    );
    let line3 = r.latency.as_ref().map_or_else(String::new, |l| {
        format!(
            "p50 {} · p90 {} · p99 {} · p99.9 {} · max {} · mean {} ± {}",
            format_us(l.p50_us as f64),
            format_us(l.p90_us as f64),
            format_us(l.p99_us as f64),
            format_us(l.p99_9_us as f64),
            format_us(l.max_us as f64),
            format_us(l.mean_us),
            format_us(l.stdev_us)
        )
    });
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{}</text>"#,
        esc(&format!("{} {}", r.method, r.url))
    );
    let colour = if r.passed { "#333" } else { FAIL };
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="44" fill="{colour}">{}</text>"#,
        esc(&line2)
    );
    let _ = writeln!(s, r#"<text x="{LEFT}" y="62">{}</text>"#, esc(&line3));
}

fn footer(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">latency (log scale)</text>"#,
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 38.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{0}" text-anchor="middle" transform="rotate(-90 18 {0})">% of answers</text>"#,
        (TOP + BOTTOM) / 2.0
    );
    // The checks the plot does not show: all of them when there is no plot.
    let plotted = plottable(r);
    let others = r
        .checks
        .iter()
        .filter(|c| !(plotted && c.metric.is_latency()));
    let (mut x, mut y) = (LEFT, BOTTOM + 62.0);
    for c in others {
        let text = c.to_string();
        let width = 6.5 * text.chars().count() as f64;
        if x > LEFT && x + width > RIGHT {
            (x, y) = (LEFT, y + 16.0);
        }
        let colour = if c.passed { PASS } else { FAIL };
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{y:.1}" fill="{colour}">{}</text>"#,
            esc(&text)
        );
        x += width + 20.0;
    }
}

/// A log axis from `lo` to `hi` microseconds onto `[LEFT, RIGHT]`.
struct Axis {
    lo: f64,
    hi: f64,
}

impl Axis {
    fn x(&self, us: f64) -> f64 {
        let t = (us.max(self.lo).ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln());
        LEFT + t.clamp(0.0, 1.0) * (RIGHT - LEFT)
    }
}

fn plot(s: &mut String, r: &Report) {
    let Some(l) = &r.latency else { return };
    let (first, last) = match (r.histogram.first(), r.histogram.last()) {
        (Some(f), Some(la)) => (f.from_us.max(1.0), la.to_us.max(1.0)),
        _ => return,
    };
    let limits: Vec<f64> = r
        .checks
        .iter()
        .filter(|c| c.metric.is_latency())
        .map(|c| c.limit.max(1.0))
        .collect();
    let lo = limits.iter().fold(first, |a, &b| a.min(b * 0.9));
    let hi = limits.iter().fold(last, |a, &b| a.max(b * 1.1));
    let axis = Axis { lo, hi };

    // Bars: the share of answers in each bucket.
    let total: u64 = r.histogram.iter().map(|b| b.count).sum();
    let top_share =
        r.histogram.iter().map(|b| b.count).max().unwrap_or(0) as f64 * 100.0 / total.max(1) as f64;
    let step = nice(top_share.max(0.1) / 4.0);
    let y_max = (top_share / step).ceil() * step;
    let y = |pct: f64| BOTTOM - pct / y_max * (BOTTOM - TOP);
    for k in 0..=((y_max / step).round() as u32) {
        let pct = f64::from(k) * step;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{RIGHT}" y2="{0:.1}" stroke="#eee"/><text x="{1}" y="{2:.1}" text-anchor="end">{3} %</text>"##,
            y(pct),
            LEFT - 6.0,
            y(pct) + 4.0,
            trim(pct)
        );
    }
    for b in r.histogram.iter().filter(|b| b.count > 0) {
        let (x0, x1) = (axis.x(b.from_us), axis.x(b.to_us));
        let pct = b.count as f64 * 100.0 / total.max(1) as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#5b8bd0"><title>{} to {}: {} answers</title></rect>"##,
            y(pct),
            (x1 - x0 - 0.5).max(0.5),
            BOTTOM - y(pct),
            esc(&format_us(b.from_us)),
            esc(&format_us(b.to_us)),
            b.count
        );
    }
    for t in ticks(lo, hi) {
        let x = axis.x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{BOTTOM}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            BOTTOM + 5.0,
            BOTTOM + 18.0,
            esc(&tick_label(t))
        );
    }
    // Percentile markers, labels stacked from the top.
    let markers = [("p50", l.p50_us), ("p90", l.p90_us), ("p99", l.p99_us)];
    for (i, (name, us)) in markers.iter().enumerate() {
        let label = format!("{name} {}", format_us(*us as f64));
        vertical(
            s,
            &axis,
            *us as f64,
            "#333",
            "4 3",
            TOP + 14.0 + 14.0 * i as f64,
            &label,
        );
    }
    // Latency thresholds, labels stacked from the bottom.
    let latency_checks = r.checks.iter().filter(|c| c.metric.is_latency());
    for (i, c) in latency_checks.enumerate() {
        let colour = if c.passed { PASS } else { FAIL };
        let verdict = if c.passed { "passed" } else { "FAILED" };
        let label = format!("{} ≤ {}: {verdict}", c.metric.name(), tick_label(c.limit));
        vertical(
            s,
            &axis,
            c.limit,
            colour,
            "",
            BOTTOM - 8.0 - 14.0 * i as f64,
            &label,
        );
    }
}

/// A vertical line at `us` with a label at height `label_y`, on the side with room.
fn vertical(
    s: &mut String,
    axis: &Axis,
    us: f64,
    colour: &str,
    dash: &str,
    label_y: f64,
    label: &str,
) {
    let x = axis.x(us);
    let dash = if dash.is_empty() {
        String::new()
    } else {
        format!(r#" stroke-dasharray="{dash}""#)
    };
    let _ = writeln!(
        s,
        r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}" stroke="{colour}" stroke-width="1.5"{dash}/>"#
    );
    let (lx, anchor) = if x > (LEFT + RIGHT) / 2.0 {
        (x - 4.0, "end")
    } else {
        (x + 4.0, "start")
    };
    let _ = writeln!(
        s,
        r#"<text x="{lx:.1}" y="{label_y:.1}" text-anchor="{anchor}" fill="{colour}">{}</text>"#,
        esc(label)
    );
}

/// Tick values between `lo` and `hi`: 1-2-5 per decade on a wide axis, evenly spaced
/// round values on a narrow one.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    if hi / lo >= 8.0 {
        let mut out = Vec::new();
        let mut decade = 10_f64.powf(lo.log10().floor());
        while decade <= hi {
            for m in [1.0, 2.0, 5.0] {
                let t = m * decade;
                if t >= lo && t <= hi {
                    out.push(t);
                }
            }
            decade *= 10.0;
        }
        if out.len() > 12 {
            out.retain(|t| (t.log10().fract()).abs() < 1e-9);
        }
        out
    } else {
        let step = nice((hi - lo) / 5.0);
        let first = (lo / step).ceil() as u64;
        (first..)
            .map(|k| k as f64 * step)
            .take_while(|t| *t <= hi)
            .collect()
    }
}

/// The smallest of 1, 2, 5 × 10^n at least `x`.
fn nice(x: f64) -> f64 {
    let p = 10_f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|v| *v >= x * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

fn tick_label(us: f64) -> String {
    if us < 1_000.0 {
        format!("{} us", trim(us))
    } else if us < 1_000_000.0 {
        format!("{} ms", trim(us / 1_000.0))
    } else {
        format!("{} s", trim(us / 1_000_000.0))
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Text escaped for XML content and attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside_the_axis() {
        assert_eq!(
            ticks(4_600.0, 6_500.0),
            [5_000.0, 5_500.0, 6_000.0, 6_500.0]
        );
        assert_eq!(
            ticks(900.0, 30_000.0),
            [1_000.0, 2_000.0, 5_000.0, 10_000.0, 20_000.0]
        );
        let wide = ticks(3.0, 5e9);
        assert!(wide.len() <= 12 && wide.contains(&1_000.0), "{wide:?}");
        assert_eq!(nice(0.3), 0.5);
        assert_eq!(nice(2.0), 2.0);
        assert_eq!(tick_label(5_500.0), "5.5 ms");
        assert_eq!(tick_label(250.0), "250 us");
        assert_eq!(tick_label(2_000_000.0), "2 s");
    }

    #[test]
    fn escapes_what_xml_would_misread() {
        assert_eq!(esc("a<b & \"c\"\u{7}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
