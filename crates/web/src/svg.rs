//! Charts as inline SVG, built on the server: the persona × tool heatmap (each cell's
//! interval in a `<title>` tooltip) and line charts (the context-fill curve with its
//! interval band, spend over time). Every text placed in the SVG goes through [`esc`].

use std::fmt::Write as _;

/// Escape text for an SVG/HTML text node or a quoted attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One heatmap cell.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatCell {
    /// `0..=1`; colours the cell.
    pub value: f64,
    /// The text in the cell (`82%`).
    pub label: String,
    /// The tooltip (`support × acme-copilot: 82% [70–90%], n = 40`).
    pub title: String,
    pub href: Option<String>,
}

const CELL_W: usize = 120;
const CELL_H: usize = 40;
const ROW_LABEL_W: usize = 170;
const COL_LABEL_H: usize = 30;

/// Red (0) through amber to green (1).
fn colour(v: f64) -> String {
    let hue = (v.clamp(0.0, 1.0) * 120.0).round();
    format!("hsl({hue:.0},70%,72%)")
}

/// A grid of `rows × cols`; `cell(r, c)` gives each cell or `None` (drawn as "—").
pub fn heatmap(
    rows: &[(String, Option<String>)],
    cols: &[String],
    cell: impl Fn(usize, usize) -> Option<HeatCell>,
) -> String {
    let width = ROW_LABEL_W + CELL_W * cols.len().max(1);
    let height = COL_LABEL_H + CELL_H * rows.len().max(1);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="real-work score by persona and tool">"#
    );
    for (c, name) in cols.iter().enumerate() {
        let x = ROW_LABEL_W + c * CELL_W + CELL_W / 2;
        let _ = write!(
            s,
            r#"<text x="{x}" y="20" text-anchor="middle" class="col">{}</text>"#,
            esc(name)
        );
    }
    for (r, (name, href)) in rows.iter().enumerate() {
        let y = COL_LABEL_H + r * CELL_H;
        let label = format!(
            r#"<text x="{}" y="{}" text-anchor="end" class="row">{}</text>"#,
            ROW_LABEL_W - 8,
            y + CELL_H / 2 + 5,
            esc(name)
        );
        match href {
            Some(h) => {
                let _ = write!(s, r#"<a href="{}">{label}</a>"#, esc(h));
            }
            None => s.push_str(&label),
        }
        for c in 0..cols.len() {
            let x = ROW_LABEL_W + c * CELL_W;
            let (fill, text, title, href) = match cell(r, c) {
                Some(h) => (colour(h.value), h.label, h.title, h.href),
                None => (
                    "#eee".to_owned(),
                    "—".to_owned(),
                    "no results".to_owned(),
                    None,
                ),
            };
            let body = format!(
                r##"<g class="cell"><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" fill="{fill}" stroke="#fff" stroke-width="2"/><text x="{}" y="{}" text-anchor="middle">{}</text></g>"##,
                esc(&title),
                x,
                y,
                CELL_W,
                CELL_H,
                x + CELL_W / 2,
                y + CELL_H / 2 + 5,
                esc(&text)
            );
            match href {
                Some(h) => {
                    let _ = write!(s, r#"<a href="{}">{body}</a>"#, esc(&h));
                }
                None => s.push_str(&body),
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// `(x, y)`, in x order.
    pub points: Vec<(f64, f64)>,
    /// An interval band `(x, low, high)`, drawn under the line.
    pub band: Vec<(f64, f64, f64)>,
}

/// Axes and labels of a line chart.
#[derive(Debug, Clone)]
pub struct Axes {
    pub x_label: String,
    pub y_label: String,
    /// `None`: from the data.
    pub y_max: Option<f64>,
    /// Format a y tick (`82%`, `$1.20`).
    pub y_format: fn(f64) -> String,
    /// Labels for x ticks at given positions; empty: five evenly spaced numbers.
    pub x_ticks: Vec<(f64, String)>,
}

const PALETTE: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// A round step for an axis from 0 to at least `max`, at most four steps: the top and
/// the number of steps. `max <= 0` gives `(1, 4)`.
pub fn round_axis(max: f64) -> (f64, u32) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 4);
    }
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let n = ((max / step) - 1e-9).ceil().clamp(1.0, 4.0);
    (step * n, n as u32)
}

/// A line chart with a legend; each point has a `<title>` with its values.
pub fn line_chart(series: &[Series], axes: &Axes) -> String {
    let (w, h) = (640.0_f64, 280.0_f64);
    let (left, right, top, bottom) = (60.0, 150.0, 15.0, 45.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let xs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(axes.x_ticks.iter().map(|t| t.0));
    let (mut x_min, mut x_max) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if !x_min.is_finite() {
        (x_min, x_max) = (0.0, 1.0);
    }
    if x_max <= x_min {
        x_max = x_min + 1.0;
    }
    let data_max = series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.band.iter().map(|b| b.2))
        })
        .fold(0.0_f64, f64::max);
    // A fixed top keeps four quarters; one from the data gets round steps (1, 2, 2.5 or 5
    // times a power of ten), so ticks read $0.25, $0.50, not $1.88, $5.63.
    let (y_max, intervals) = match axes.y_max {
        Some(m) => (m, 4),
        None => round_axis(data_max),
    };
    let sx = |x: f64| left + (x - x_min) / (x_max - x_min) * pw;
    let sy = |y: f64| top + ph - (y / y_max).clamp(0.0, 1.0) * ph;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}">"#,
        esc(&format!("{} by {}", axes.y_label, axes.x_label))
    );
    // Grid and y ticks.
    for i in 0..=intervals {
        let v = y_max * f64::from(i) / f64::from(intervals);
        let y = sy(v);
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            left + pw,
            left - 6.0,
            y + 4.0,
            esc(&(axes.y_format)(v))
        );
    }
    let ticks: Vec<(f64, String)> = if axes.x_ticks.is_empty() {
        (0..=4)
            .map(|i| {
                let x = x_min + (x_max - x_min) * f64::from(i) / 4.0;
                (x, format!("{x:.0}"))
            })
            .collect()
    } else {
        axes.x_ticks.clone()
    };
    for (x, label) in &ticks {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
            sx(*x),
            top + ph + 16.0,
            esc(label)
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{left}" x2="{left}" y1="{top}" y2="{:.1}" stroke="#888"/><line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#888"/>"##,
        top + ph,
        left + pw,
        top + ph,
        top + ph
    );
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
        left + pw / 2.0,
        h - 8.0,
        esc(&axes.x_label)
    );
    let _ = write!(
        s,
        r#"<text x="14" y="{:.1}" text-anchor="middle" class="axis" transform="rotate(-90 14 {:.1})">{}</text>"#,
        top + ph / 2.0,
        top + ph / 2.0,
        esc(&axes.y_label)
    );
    for (i, series_i) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        if !series_i.band.is_empty() {
            let upper: Vec<String> = series_i
                .band
                .iter()
                .map(|(x, _, hi)| format!("{:.1},{:.1}", sx(*x), sy(*hi)))
                .collect();
            let lower: Vec<String> = series_i
                .band
                .iter()
                .rev()
                .map(|(x, lo, _)| format!("{:.1},{:.1}", sx(*x), sy(*lo)))
                .collect();
            let _ = write!(
                s,
                r#"<polygon points="{} {}" fill="{colour}" fill-opacity="0.15" stroke="none"/>"#,
                upper.join(" "),
                lower.join(" ")
            );
        }
        let path: Vec<String> = series_i
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for (x, y) in &series_i.points {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"><title>{}</title></circle>"#,
                sx(*x),
                sy(*y),
                esc(&format!(
                    "{}: {} at {x}",
                    series_i.name,
                    (axes.y_format)(*y)
                ))
            );
        }
        let ly = top + 14.0 + 18.0 * i as f64;
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{:.1}" class="legend">{}</text>"#,
            left + pw + 12.0,
            ly - 10.0,
            left + pw + 30.0,
            ly,
            esc(&series_i.name)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heatmap_escapes_labels_and_titles_and_draws_empty_cells() {
        let svg = heatmap(
            &[("<b>ops</b>".into(), Some("/p?a=1&b=2".into()))],
            &["t\"1".into(), "t2".into()],
            |_, c| {
                (c == 0).then(|| HeatCell {
                    value: 0.5,
                    label: "50%".into(),
                    title: "a <script>".into(),
                    href: None,
                })
            },
        );
        assert!(svg.contains("&lt;b&gt;ops&lt;/b&gt;"));
        assert!(svg.contains("t&quot;1"));
        assert!(svg.contains("<title>a &lt;script&gt;</title>"));
        assert!(svg.contains("/p?a=1&amp;b=2"));
        assert!(svg.contains("<title>no results</title>"));
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn axes_from_the_data_step_in_round_numbers() {
        // The issue's chart: $7.50 of spend had ticks at $1.88 and $5.63.
        assert_eq!(round_axis(7.5), (8.0, 4));
        assert_eq!(round_axis(0.0033), (0.004, 4));
        assert_eq!(round_axis(100.0), (100.0, 4));
        assert_eq!(round_axis(101.0), (150.0, 3));
        assert_eq!(round_axis(0.9), (1.0, 4));
        assert_eq!(round_axis(0.0), (1.0, 4));
        for max in [0.0007, 0.013, 1.0, 3.7, 42.0, 999.0, 12_345.0] {
            let (top, n) = round_axis(max);
            let step = top / f64::from(n);
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(top >= max && (1..=4).contains(&n), "{max}: {top} in {n}");
            assert!(
                [1.0, 2.0, 2.5, 5.0]
                    .iter()
                    .any(|m| (mantissa - m).abs() < 1e-6),
                "{max}: step {step}"
            );
        }
        let svg = line_chart(
            &[Series {
                name: "spend".into(),
                points: vec![(0.0, 1.0), (1.0, 7.5)],
                band: vec![],
            }],
            &Axes {
                x_label: "day".into(),
                y_label: "spend".into(),
                y_max: None,
                y_format: |v| format!("${v:.2}"),
                x_ticks: vec![],
            },
        );
        for tick in ["$0.00", "$2.00", "$4.00", "$6.00", "$8.00"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "{tick}: {svg}");
        }
    }

    #[test]
    fn line_chart_places_points_and_band() {
        let svg = line_chart(
            &[Series {
                name: "acc".into(),
                points: vec![(0.0, 1.0), (50.0, 0.5)],
                band: vec![(0.0, 0.8, 1.0), (50.0, 0.3, 0.7)],
            }],
            &Axes {
                x_label: "fill".into(),
                y_label: "accuracy".into(),
                y_max: Some(1.0),
                y_format: |v| format!("{:.0}%", v * 100.0),
                x_ticks: vec![],
            },
        );
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("<polygon"));
        assert!(svg.contains("acc: 50% at 50"));
    }
}
