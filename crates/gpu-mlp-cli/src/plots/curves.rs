//! Line charts: `train --plot`'s training curves and `bench --sweep`'s scaling curves.

use super::canvas::{font, render, Area, DrawResult, LIGHT_GREY, TAB_BLUE, TAB_ORANGE, TAB_RED};
use gpu_mlp::error::Result;
use gpu_mlp::training::EpochRecord;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// `train --plot`: loss and accuracy per epoch, training and (when held out) validation,
/// side by side like the tutorials' `history` plots.
pub fn training_curves(path: &Path, history: &[EpochRecord], title: &str) -> Result<()> {
    render(path, (1100, 460), |root| {
        let root = root.titled(title, font(20))?;
        let (left, right) = root.split_horizontally(550);
        let loss: Vec<(f64, f64, Option<f64>)> = history
            .iter()
            .map(|r| (r.epoch as f64, r.loss, r.validation.map(|v| v.0)))
            .collect();
        let accuracy: Vec<(f64, f64, Option<f64>)> = history
            .iter()
            .map(|r| (r.epoch as f64, r.accuracy, r.validation.map(|v| v.1)))
            .collect();
        curve_panel(&left, "loss", &loss, true)?;
        curve_panel(&right, "accuracy", &accuracy, false)
    })
}

/// One panel of `training_curves`: `(epoch, train, validation)` points.
fn curve_panel(
    area: &Area,
    name: &str,
    points: &[(f64, f64, Option<f64>)],
    from_zero: bool,
) -> DrawResult {
    let epochs = points.len().max(1) as f64;
    let values = points
        .iter()
        .flat_map(|p| std::iter::once(p.1).chain(p.2))
        .filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    // Room around the points, also when there is one epoch (or all values are equal).
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.05).max(0.005);
    let y_range = if from_zero {
        0.0..hi + pad
    } else {
        (lo - pad).max(0.0)..(hi + pad).min(1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(name, font(18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5..epochs + 0.5, y_range)?;
    chart
        .configure_mesh()
        .x_labels(points.len().clamp(1, 12) + 1)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 && *x >= 1.0 {
                format!("{}", x.round())
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{y:.3}"))
        .x_desc("epoch")
        .y_desc(name)
        .label_style(font(13))
        .axis_desc_style(font(14))
        .light_line_style(WHITE)
        .draw()?;
    let train: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
    let validation: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| p.2.map(|v| (p.0, v)))
        .collect();
    for (series, label, color) in [
        (train, "training", TAB_BLUE),
        (validation, "validation", TAB_ORANGE),
    ] {
        if series.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(series.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(if from_zero {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .label_font(font(13))
        .background_style(WHITE.mix(0.9))
        .border_style(LIGHT_GREY)
        .draw()?;
    Ok(())
}

/// Named lines of `(x, y)` points.
pub type Series = [(String, Vec<(f64, f64)>)];

/// `bench --sweep`: two panels against batch size, one line per series: a rate on a log scale
/// on the left (e.g. samples/s), a share of the peak from zero on the right.
pub fn scaling_curves(
    path: &Path,
    title: &str,
    left: (&str, &Series),
    right: (&str, &Series),
) -> Result<()> {
    render(path, (1200, 500), |root| {
        let root = root.titled(title, font(18))?;
        let (a, b) = root.split_horizontally(600);
        scaling_panel(&a, left.0, left.1, true)?;
        scaling_panel(&b, right.0, right.1, false)
    })
}

/// matplotlib's next colours after blue, orange and red's neighbours, for up to six lines.
const LINE_COLOURS: [RGBColor; 6] = [
    TAB_BLUE,
    TAB_ORANGE,
    RGBColor(44, 160, 44),
    TAB_RED,
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The smallest and largest positive finite values, or `fallback` when there are none.
fn positive_span(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo.is_finite() {
        (lo, hi)
    } else {
        fallback
    }
}

/// One panel of `scaling_curves`: a log-scale y axis for rates, a linear one from zero for
/// shares. The x axis is log2 of the batch size, so powers of two are evenly spaced and
/// labelled with their value.
fn scaling_panel(area: &Area, name: &str, series: &Series, log_y: bool) -> DrawResult {
    let points = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let (x_lo, x_hi) = positive_span(points().map(|p| p.0), (32.0, 4096.0));
    let (y_lo, y_hi) = positive_span(points().map(|p| p.1), (1.0, 100.0));
    let (x_lo, x_hi) = (x_lo.log2().floor(), x_hi.log2().ceil());
    let x_range = x_lo - 0.3..x_hi + 0.3;
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(name, font(16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    let ticks = (x_hi - x_lo) as usize + 3;
    if log_y {
        let y_range = (y_lo / 1.5..y_hi * 1.5).log_scale();
        let mut chart = builder.build_cartesian_2d(x_range, y_range)?;
        scaling_lines(&mut chart, name, series, ticks)
    } else {
        let mut chart = builder.build_cartesian_2d(x_range, 0.0..y_hi * 1.15)?;
        scaling_lines(&mut chart, name, series, ticks)
    }
}

/// The mesh, the lines and the legend of a `scaling_panel`.
fn scaling_lines<'a, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
    name: &str,
    series: &Series,
    ticks: usize,
) -> DrawResult {
    chart
        .configure_mesh()
        .x_desc("batch size")
        .y_desc(name)
        .x_labels(ticks)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 {
                format!("{}", x.round().exp2())
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| gpu_mlp::diagnostics::bench::num(*y))
        .label_style(font(12))
        .axis_desc_style(font(13))
        .light_line_style(WHITE)
        .draw()?;
    for ((label, line), color) in series.iter().zip(LINE_COLOURS.iter().cycle()) {
        let line: Vec<(f64, f64)> = line
            .iter()
            .filter(|p| p.0 > 0.0 && p.1.is_finite() && p.1 > 0.0)
            .map(|p| (p.0.log2(), p.1))
            .collect();
        let color = *color;
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(font(12))
        .background_style(WHITE.mix(0.9))
        .border_style(LIGHT_GREY)
        .draw()?;
    Ok(())
}
