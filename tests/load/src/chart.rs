//! The latency-over-time chart: p50, p99 and max per second (log scale) and the answers per
//! second achieved, as SVG.

use plotters::{coord::Shift, prelude::*};

use crate::stats::Second;

/// Smallest latency the log axis shows, ms.
const FLOOR_MS: f64 = 0.1;

fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    timeline: &[Second],
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    root.fill(&WHITE)?;
    let seconds = timeline.len().max(1) as f64;
    let top_ms = timeline.iter().map(|s| s.max).fold(1.0_f64, f64::max) * 1.5;
    let top_rps = timeline
        .iter()
        .map(|s| s.answered)
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.15;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .right_y_label_area_size(72)
        .build_cartesian_2d(0.0..seconds, (FLOOR_MS..top_ms).log_scale())?
        .set_secondary_coord(0.0..seconds, 0.0..top_rps);
    chart
        .configure_mesh()
        .x_desc("seconds since the start")
        .y_desc("latency, ms (log)")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("answers per second")
        .draw()?;
    let answered = |s: &&Second| s.answered > 0;
    let point = |v: f64| v.max(FLOOR_MS);
    for (name, color, value) in [
        ("p50", BLUE, (|s: &Second| s.p50) as fn(&Second) -> f64),
        ("p99", RED, |s: &Second| s.p99),
        ("max", MAGENTA, |s: &Second| s.max),
    ] {
        chart
            .draw_series(LineSeries::new(
                timeline
                    .iter()
                    .filter(answered)
                    .map(|s| (f64::from(s.second) + 0.5, point(value(s)))),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .draw_secondary_series(LineSeries::new(
            timeline
                .iter()
                .map(|s| (f64::from(s.second) + 0.5, s.answered as f64)),
            BLACK.stroke_width(1),
        ))?
        .label("answers/s (right axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()
}

/// The chart as an SVG document.
pub fn latency_over_time(title: &str, timeline: &[Second]) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 480)).into_drawing_area();
        draw(&root, title, timeline).map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_an_svg_with_each_series_labelled() {
        let timeline: Vec<Second> = (0..5)
            .map(|i| Second {
                second: i,
                offered: 100,
                answered: 100 - u64::from(i),
                errors: 0,
                p50: 1.0 + f64::from(i),
                p99: 5.0,
                max: 9.0,
                seats_held: None,
                seats_sold: None,
            })
            .collect();
        let svg = latency_over_time("run", &timeline).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        for label in [
            "p50",
            "p99",
            "max",
            "answers/s (right axis)",
            "latency, ms (log)",
        ] {
            assert!(svg.contains(label), "missing {label}");
        }
        assert!(svg.matches("<polyline").count() >= 4, "four series drawn");
    }
}
