//! Charts drawn here as SVG: bar charts people read at a glance, no chart script to load, and
//! nothing a Content-Security-Policy has to allow. Labels are text nodes (escaped by maud).

use maud::{html, Markup};

/// One bar: its label under the axis, its value, and the value as text on hover.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub title: String,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const PAD_LEFT: f64 = 44.0;
const PAD_BOTTOM: f64 = 36.0;
const PAD_TOP: f64 = 12.0;

/// A bar chart; every `label_every`-th label is written (long ranges stay legible).
pub fn bars(caption: &str, bars: &[Bar], label_every: usize) -> Markup {
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let top = nice_ceiling(max);
    let plot_w = WIDTH - PAD_LEFT - 8.0;
    let plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP;
    let slot = if bars.is_empty() {
        plot_w
    } else {
        plot_w / bars.len() as f64
    };
    let bar_w = (slot * 0.7).max(1.0);
    let every = label_every.max(1);
    html! {
        figure.chart {
            figcaption { (caption) }
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(caption) {
                @for i in 0..=4 {
                    @let v = top * f64::from(i) / 4.0;
                    @let y = PAD_TOP + plot_h - plot_h * f64::from(i) / 4.0;
                    line.grid x1=(PAD_LEFT) x2=(WIDTH - 8.0) y1=(fmt(y)) y2=(fmt(y)) {}
                    text.axis x=(PAD_LEFT - 6.0) y=(fmt(y + 4.0)) text-anchor="end" { (short(v)) }
                }
                @for (i, b) in bars.iter().enumerate() {
                    @let h = if top > 0.0 { plot_h * b.value / top } else { 0.0 };
                    @let x = PAD_LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
                    rect.bar x=(fmt(x)) y=(fmt(PAD_TOP + plot_h - h)) width=(fmt(bar_w)) height=(fmt(h)) {
                        title { (b.label) ": " (b.title) }
                    }
                    @if i % every == 0 {
                        text.label x=(fmt(x + bar_w / 2.0)) y=(fmt(HEIGHT - PAD_BOTTOM + 16.0)) text-anchor="middle" { (b.label) }
                    }
                }
            }
        }
    }
}

/// A horizontal split bar (e.g. sentiment): shares of a whole, each with its class and text.
pub fn split(caption: &str, parts: &[(&str, &str, f64)]) -> Markup {
    let total: f64 = parts.iter().map(|p| p.2).sum();
    let mut x = 0.0;
    let mut placed = Vec::new();
    for (class, label, value) in parts {
        let w = if total > 0.0 {
            720.0 * value / total
        } else {
            0.0
        };
        placed.push((*class, *label, *value, x, w));
        x += w;
    }
    html! {
        figure.chart.split {
            figcaption { (caption) }
            svg viewBox="0 0 720 40" role="img" aria-label=(caption) {
                @for (class, label, value, x, w) in &placed {
                    rect class=(class) x=(fmt(*x)) y="0" width=(fmt(*w)) height="28" {
                        title { (label) ": " (short(*value)) }
                    }
                }
            }
            ul.legend {
                @for (class, label, value) in parts {
                    li class=(class) { (label) ": " (short(*value)) }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// A value on an axis: whole numbers as they are, large ones with k.
fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The axis top: the next of 1, 2, 2.5, 5 × 10ⁿ at or above `max` (at least 1).
fn nice_ceiling(max: f64) -> f64 {
    // Counts this small get whole-number steps (four grid lines).
    if max <= 4.0 || !max.is_finite() {
        return 4.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 4.0);
        assert_eq!(nice_ceiling(3.0), 4.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(240.0), 250.0);
        assert_eq!(nice_ceiling(f64::NAN), 4.0);
    }

    #[test]
    fn labels_are_escaped_text() {
        let svg = bars(
            "<b>x</b>",
            &[Bar {
                label: "<script>".into(),
                value: 3.0,
                title: "3".into(),
            }],
            1,
        )
        .into_string();
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert!(svg.contains("&lt;b&gt;"));
    }
}
