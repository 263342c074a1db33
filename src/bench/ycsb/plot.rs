//! `--plot FILE.svg`: a [`YcsbReport`] drawn as one SVG with two panels, one above the other,
//! sharing their x axis (the phases in the order they ran: `load`, then the workloads):
//!
//! 1. **Throughput**: grouped bars, one bar per label (each [`ModeReport`]'s `io_mode`: an I/O
//!    mode or another engine's name) in each phase, ops/s on a linear axis from 0.
//! 2. **Latency**: per phase and label, p50 (filled circle), p99 (triangle) and p99.9 (cross)
//!    in µs on a log axis, joined by a line in the label's color, at the x of the label's bar.
//!
//! A label is an opaque column name: nothing here knows which labels exist, only their order
//! in the report, which gives each its color. Phases a mode did not run leave its bar out.
//!
//! The SVG is drawn into a string, then written with one `std::fs::write`, so a path that cannot
//! be written is an `Err` naming the path and the operation, never a panic.
//!
//! [`ModeReport`]: super::ModeReport

use std::io;
use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::Settings;
use super::{PhaseReport, YcsbReport};

/// Width and height of the whole picture in pixels: room for 7 phases of 8 bars each.
const SIZE_PIXELS: (u32, u32) = (1200, 1000);
/// Width of the column right of each panel's chart that holds its legend.
const LEGEND_WIDTH_PIXELS: u32 = 130;
/// Share of a phase's slot the group of bars fills; the rest is the gap between phases.
const GROUP_WIDTH_FRACTION: f64 = 0.8;
/// Share of a bar's slot the bar fills; the rest is the gap between bars.
const BAR_WIDTH_FRACTION: f64 = 0.85;
/// The labels' colors, in the report's order (Tableau 10's first eight: told apart in print
/// and by most color-blind readers). A ninth label reuses the first color.
const LABEL_COLORS: [RGBColor; 8] = [
    RGBColor(0x4E, 0x79, 0xA7),
    RGBColor(0xF2, 0x8E, 0x2B),
    RGBColor(0xE1, 0x57, 0x59),
    RGBColor(0x76, 0xB7, 0xB2),
    RGBColor(0x59, 0xA1, 0x4F),
    RGBColor(0xED, 0xC9, 0x48),
    RGBColor(0xB0, 0x7A, 0xA1),
    RGBColor(0xFF, 0x9D, 0xA7),
];
const FONT_FAMILY: &str = "sans-serif";

/// What drawing into the in-memory SVG can fail with (the naive font's layout: in practice
/// never, but the library says it may).
type DrawResult = Result<(), DrawingAreaErrorKind<io::Error>>;

/// Draws `report` and writes the SVG to `path`, replacing it.
pub(crate) fn write_svg(report: &YcsbReport, path: &Path) -> Result<(), String> {
    let svg = render(report)
        .map_err(|error| format!("drawing the plot for {}: {error}", path.display()))?;
    // A report file, not data or log I/O: std::fs is the right tool (no disk backend needed).
    std::fs::write(path, svg)
        .map_err(|error| format!("writing the plot {}: {error}", path.display()))
}

/// The SVG of `report`, as text.
fn render(report: &YcsbReport) -> Result<String, DrawingAreaErrorKind<io::Error>> {
    let columns = Columns::of(report);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE_PIXELS).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(&title(&report.settings), (FONT_FAMILY, 22))?;
        let (upper, lower) = root.split_vertically(root.dim_in_pixel().1 / 2);
        draw_throughput(&upper, &columns)?;
        draw_latency(&lower, &columns)?;
        root.present()?;
    }
    Ok(svg)
}

/// The record count, value bytes, pool, threads and durability the report was measured with.
fn title(settings: &Settings) -> String {
    format!(
        "directdb bench ycsb: {} records of {} B, {} MiB pool, {} threads, durability {}",
        settings.record_count,
        settings.value_bytes,
        settings.pool_bytes >> 20,
        settings.thread_count,
        settings.durability
    )
}

/// The report as the plot's grid: phases along x, labels within each phase.
struct Columns<'a> {
    /// Every phase any mode ran, in the order they first appear.
    phases: Vec<&'a str>,
    /// The modes' labels, in the report's order.
    labels: Vec<&'a str>,
    report: &'a YcsbReport,
}

impl<'a> Columns<'a> {
    fn of(report: &'a YcsbReport) -> Columns<'a> {
        let mut phases: Vec<&str> = Vec::new();
        for row in
            report.modes.iter().flat_map(|mode| std::iter::once(&mode.load).chain(&mode.runs))
        {
            if !phases.contains(&row.phase.as_str()) {
                phases.push(&row.phase);
            }
        }
        let labels = report.modes.iter().map(|mode| mode.io_mode.as_str()).collect();
        Columns { phases, labels, report }
    }

    /// The rows of the label at `label_index`, each with its phase's index, in the order run.
    fn cells(&self, label_index: usize) -> impl Iterator<Item = (usize, &'a PhaseReport)> + '_ {
        let mode = &self.report.modes[label_index];
        std::iter::once(&mode.load).chain(&mode.runs).filter_map(|row| {
            let phase_index = self.phases.iter().position(|&phase| phase == row.phase)?;
            Some((phase_index, row))
        })
    }

    /// The x axis: one unit per phase, a tick and the phase's name at each unit's middle.
    fn x_range(&self) -> PhaseAxis {
        let phase_count = self.phases.len();
        PhaseAxis { linear: (0.0..phase_count.max(1) as f64).into(), phase_count }
    }

    /// The phase whose tick is at `x`, for the axis labels.
    fn phase_at(&self, x: f64) -> &'a str {
        let index = (0..self.phases.len()).find(|&index| (index as f64 + 0.5 - x).abs() < 0.25);
        index.map_or("", |index| self.phases[index])
    }

    /// Left and right x of the bar of `label_index` in the phase at `phase_index`: the labels
    /// share the middle [`GROUP_WIDTH_FRACTION`] of the phase's unit in equal slots. With 4
    /// labels, phase 1, label 2: slots of 0.2 from 1.1, slot [1.5, 1.7], bar [1.515, 1.685].
    fn bar_span(&self, phase_index: usize, label_index: usize) -> (f64, f64) {
        assert!(phase_index < self.phases.len());
        assert!(label_index < self.labels.len());
        let slot_width = GROUP_WIDTH_FRACTION / self.labels.len() as f64;
        let slot_left = phase_index as f64
            + (1.0 - GROUP_WIDTH_FRACTION) / 2.0
            + slot_width * label_index as f64;
        let margin = slot_width * (1.0 - BAR_WIDTH_FRACTION) / 2.0;
        (slot_left + margin, slot_left + slot_width - margin)
    }

    fn bar_center(&self, phase_index: usize, label_index: usize) -> f64 {
        let (left, right) = self.bar_span(phase_index, label_index);
        (left + right) / 2.0
    }
}

/// The x axis of both panels: linear, one unit per phase, with its ticks (and so the phases'
/// names) at the units' middles instead of at round numbers.
struct PhaseAxis {
    linear: RangedCoordf64,
    phase_count: usize,
}

impl Ranged for PhaseAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Only the bold points (ticks and labels), none for the light grid lines.
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        (0..self.phase_count).map(|index| index as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// The color of the label at `label_index` in the report's order.
fn label_color(label_index: usize) -> RGBColor {
    LABEL_COLORS[label_index % LABEL_COLORS.len()]
}

/// One latency percentile drawn in the second panel, each with its own marker.
#[derive(Clone, Copy, Debug)]
enum Percentile {
    P50,
    P99,
    P999,
}

impl Percentile {
    const ALL: [Percentile; 3] = [Percentile::P50, Percentile::P99, Percentile::P999];

    fn name(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P99 => "p99",
            Percentile::P999 => "p99.9",
        }
    }

    fn of(self, row: &PhaseReport) -> f64 {
        match self {
            Percentile::P50 => row.latency_us.p50,
            Percentile::P99 => row.latency_us.p99,
            Percentile::P999 => row.latency_us.p999,
        }
    }

    /// Draws its marker at `center` on `area` (a chart's or a legend's): a filled circle, a
    /// filled triangle or a cross, never a rectangle, which only bars and their legend swatches
    /// are.
    fn draw_marker<Coord: CoordTranslate>(
        self,
        area: &DrawingArea<SVGBackend<'_>, Coord>,
        center: Coord::From,
        color: RGBColor,
    ) -> DrawResult
    where
        Coord::From: Clone + 'static,
    {
        match self {
            Percentile::P50 => area.draw(&Circle::new(center, 4, color.filled())),
            Percentile::P99 => area.draw(&TriangleMarker::new(center, 6, color.filled())),
            Percentile::P999 => area.draw(&Cross::new(center, 5, color.stroke_width(2))),
        }
    }
}

/// What marks an entry of a legend.
#[derive(Clone, Copy, Debug)]
enum Swatch {
    /// A label's bar color.
    Bar(RGBColor),
    /// A label's line color.
    Line(RGBColor),
    /// A percentile's marker, in black.
    Marker(Percentile),
}

type Area<'svg> = DrawingArea<SVGBackend<'svg>, Shift>;

/// A panel's chart area, and the column right of it for the legend, so the legend never
/// covers a bar or a point however many labels there are.
fn split_panel<'svg>(area: &Area<'svg>) -> (Area<'svg>, Area<'svg>) {
    area.split_horizontally(area.dim_in_pixel().0.saturating_sub(LEGEND_WIDTH_PIXELS))
}

/// Panel 1: ops/s per phase, one bar per label.
fn draw_throughput(area: &Area<'_>, columns: &Columns<'_>) -> DrawResult {
    let (chart_area, legend_area) = split_panel(area);
    let ops_max = (0..columns.labels.len())
        .flat_map(|label_index| columns.cells(label_index).map(|(_, row)| row.ops_per_second))
        .fold(0.0, f64::max);
    // An empty report still gets an axis.
    let y_top = if ops_max > 0.0 { ops_max * 1.05 } else { 1.0 };
    let mut chart = ChartBuilder::on(&chart_area)
        .caption("throughput (ops/s; the load: records/s)", (FONT_FAMILY, 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(columns.x_range(), 0.0..y_top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .label_style((FONT_FAMILY, 14))
        .axis_desc_style((FONT_FAMILY, 15))
        .x_desc("phase")
        .y_desc("ops/s")
        .x_label_formatter(&|x| columns.phase_at(*x).to_string())
        .y_label_formatter(&|y| compact(*y))
        .draw()?;
    for label_index in 0..columns.labels.len() {
        let color = label_color(label_index);
        chart.draw_series(columns.cells(label_index).map(|(phase_index, row)| {
            let (left, right) = columns.bar_span(phase_index, label_index);
            Rectangle::new([(left, 0.0), (right, row.ops_per_second)], color.filled())
        }))?;
    }
    let entries =
        columns.labels.iter().enumerate().map(|(label_index, label)| {
            ((*label).to_string(), Swatch::Bar(label_color(label_index)))
        });
    draw_legend(&legend_area, plot_top_pixels(area, &chart), entries)
}

/// Panel 2: p50, p99 and p99.9 per phase and label, on a log axis.
fn draw_latency(area: &Area<'_>, columns: &Columns<'_>) -> DrawResult {
    let (chart_area, legend_area) = split_panel(area);
    let (y_bottom, y_top) = latency_range(columns);
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(
            format!(
                "latency percentiles (µs, log scale; the load: per transaction of {} inserts)",
                columns.report.settings.load_batch_records
            ),
            (FONT_FAMILY, 18),
        )
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(columns.x_range(), (y_bottom..y_top).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .label_style((FONT_FAMILY, 14))
        .axis_desc_style((FONT_FAMILY, 15))
        .x_desc("phase")
        .y_desc("µs")
        .x_label_formatter(&|x| columns.phase_at(*x).to_string())
        .y_label_formatter(&|y| compact(*y))
        .draw()?;
    // A line from p50 to p99.9 ties each label's markers together, then the markers on top.
    for label_index in 0..columns.labels.len() {
        let color = label_color(label_index);
        let spans =
            latency_points(columns, label_index, |row| (row.latency_us.p50, row.latency_us.p999));
        chart.draw_series(
            spans
                .filter(|&(_, (p50, _))| p50 > 0.0)
                .map(|(x, (p50, p999))| PathElement::new(vec![(x, p50), (x, p999)], color)),
        )?;
    }
    for percentile in Percentile::ALL {
        for (x, y, color) in all_latency_points(columns, percentile) {
            percentile.draw_marker(chart.plotting_area(), (x, y), color)?;
        }
    }
    let labels =
        columns.labels.iter().enumerate().map(|(label_index, label)| {
            ((*label).to_string(), Swatch::Line(label_color(label_index)))
        });
    let percentiles = Percentile::ALL
        .into_iter()
        .map(|percentile| (percentile.name().to_string(), Swatch::Marker(percentile)));
    draw_legend(&legend_area, plot_top_pixels(area, &chart), labels.chain(percentiles))
}

/// How far below the panel's top its plotting area starts, to line the legend up with it.
fn plot_top_pixels<X: Ranged, Y: Ranged>(
    panel: &Area<'_>,
    chart: &ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
) -> i32 {
    chart.plotting_area().get_base_pixel().1 - panel.get_base_pixel().1
}

/// The latency axis: whole decades around every positive percentile drawn (1 µs to 1 ms when
/// there is none).
fn latency_range(columns: &Columns<'_>) -> (f64, f64) {
    let values = all_latency_points(columns, Percentile::P50)
        .chain(all_latency_points(columns, Percentile::P999))
        .map(|(_, y, _)| y);
    let (low, high) =
        values.fold((f64::INFINITY, 0.0_f64), |(low, high), y| (low.min(y), high.max(y)));
    if !(low.is_finite() && high > 0.0) {
        return (1.0, 1000.0);
    }
    // A factor of 1.5 of room either side keeps a point off the axis lines: p50 = 10 µs gives a
    // bottom of 10^floor(log10(10 / 1.5)) = 1 µs rather than 10 µs.
    let (bottom, top) =
        (10_f64.powf((low / 1.5).log10().floor()), 10_f64.powf((high * 1.5).log10().ceil()));
    (bottom, top)
}

/// `value` of each phase the label at `label_index` ran, at its bar's x.
fn latency_points<'a, T>(
    columns: &'a Columns<'_>,
    label_index: usize,
    value: impl Fn(&PhaseReport) -> T + 'a,
) -> impl Iterator<Item = (f64, T)> + 'a {
    columns
        .cells(label_index)
        .map(move |(phase_index, row)| (columns.bar_center(phase_index, label_index), value(row)))
}

/// One percentile of every label and phase, at its bar's x, in the label's color. A log axis
/// has no place for 0 µs (a latency below the histogram's 1 ns resolution), so such points are
/// left out rather than drawn at a made-up value.
fn all_latency_points<'a>(
    columns: &'a Columns<'_>,
    percentile: Percentile,
) -> impl Iterator<Item = (f64, f64, RGBColor)> + 'a {
    (0..columns.labels.len()).flat_map(move |label_index| {
        latency_points(columns, label_index, move |row| percentile.of(row))
            .filter(|&(_, y)| y > 0.0)
            .map(move |(x, y)| (x, y, label_color(label_index)))
    })
}

/// A legend in `area` (a panel's right-hand column), its box's top `top_pixels` down: one
/// row per entry, its swatch then its text. Nothing when there are no entries.
fn draw_legend(
    area: &Area<'_>,
    top_pixels: i32,
    entries: impl Iterator<Item = (String, Swatch)>,
) -> DrawResult {
    const ROW_HEIGHT_PIXELS: i32 = 20;
    const PADDING_PIXELS: i32 = 6;
    let entries: Vec<(String, Swatch)> = entries.collect();
    let row_count = i32::try_from(entries.len()).expect("a legend has a handful of rows");
    if row_count == 0 {
        return Ok(());
    }
    let right = i32::try_from(area.dim_in_pixel().0).expect("the picture is SIZE_PIXELS wide");
    let bottom = top_pixels + 2 * PADDING_PIXELS + row_count * ROW_HEIGHT_PIXELS;
    area.draw(&Rectangle::new([(4, top_pixels), (right - 8, bottom)], BLACK.stroke_width(1)))?;
    let text_style =
        TextStyle::from((FONT_FAMILY, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (row_index, (text, swatch)) in (0..).zip(&entries) {
        let (x, y) = (14, top_pixels + PADDING_PIXELS + ROW_HEIGHT_PIXELS * row_index + 10);
        match *swatch {
            Swatch::Bar(color) => {
                area.draw(&Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()))?;
            }
            Swatch::Line(color) => {
                area.draw(&PathElement::new(vec![(x, y), (x + 12, y)], color.stroke_width(3)))?;
            }
            Swatch::Marker(percentile) => percentile.draw_marker(area, (x + 6, y), BLACK)?,
        }
        area.draw(&Text::new(text.clone(), (x + 20, y), text_style.clone()))?;
    }
    Ok(())
}

/// An axis value in few characters: 1500 → "1.5k", 2000000 → "2M", 0.5 → "0.5".
fn compact(value: f64) -> String {
    let (scaled, suffix) = match value.abs() {
        magnitude if magnitude >= 1e6 => (value / 1e6, "M"),
        magnitude if magnitude >= 1e3 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    let text = format!("{scaled:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: [&str; 4] = ["direct", "buffered", "mmap", "lmdb"];
    const PHASES: [&str; 3] = ["load", "a", "b"];

    /// The text content of every `<text>` element (plotters writes each on a line of its own).
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|element| {
                let (_, rest) = element.split_once('>')?;
                let (content, _) = rest.split_once("</text>")?;
                Some(content.trim())
            })
            .collect()
    }

    /// The `fill` attribute of every `<rect>` element.
    fn rect_fills(svg: &str) -> Vec<&str> {
        svg.split("<rect")
            .skip(1)
            .filter_map(|element| {
                let element = &element[..element.find("/>")?];
                let (_, rest) = element.split_once(" fill=\"")?;
                Some(&rest[..rest.find('"')?])
            })
            .collect()
    }

    fn hex(color: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", color.0, color.1, color.2)
    }

    /// Four labels (the fourth an engine, not an I/O mode) and three phases: a well-formed SVG
    /// that names every label and phase, and in each label's own color one bar per phase, plus
    /// the one swatch of that label in the throughput legend (the latency legend shows labels
    /// as lines, and the latency markers are circles, triangles and crosses, never rects).
    #[test]
    fn four_labels_and_three_phases_draw_every_bar_and_name() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("bench.svg");
        write_svg(&YcsbReport::synthetic(&LABELS, &PHASES), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        let texts = texts(&svg);
        for name in LABELS.iter().chain(&PHASES) {
            assert!(texts.contains(name), "no text {name:?} in {texts:?}");
        }
        assert!(texts.iter().any(|text| text.contains("1000 records of 100 B")), "{texts:?}");
        let fills = rect_fills(&svg);
        let colors: Vec<String> = (0..LABELS.len()).map(|index| hex(label_color(index))).collect();
        for (label, color) in LABELS.iter().zip(&colors) {
            let count = fills.iter().filter(|&&fill| fill == color).count();
            assert_eq!(count, PHASES.len() + 1, "{label} ({color}): bars and legend swatch");
        }
        let distinct: std::collections::BTreeSet<&String> = colors.iter().collect();
        assert_eq!(distinct.len(), LABELS.len(), "every label has its own color: {colors:?}");
    }

    /// A mode that did not run a phase leaves its bar out, and only that one.
    #[test]
    fn a_phase_a_mode_did_not_run_leaves_only_its_bar_out() {
        let mut report = YcsbReport::synthetic(&LABELS, &PHASES);
        report.modes[1].runs.pop();
        let svg = render(&report).unwrap();
        let fills = rect_fills(&svg);
        let count = |index| fills.iter().filter(|&&fill| fill == hex(label_color(index))).count();
        assert_eq!(count(0), PHASES.len() + 1);
        assert_eq!(count(1), PHASES.len(), "one bar fewer");
    }

    /// No modes at all, and modes with only a load: both still draw (axes, titles, no bars).
    #[test]
    fn a_report_without_runs_still_draws() {
        let mut report = YcsbReport::synthetic(&LABELS, &["load"]);
        let svg = render(&report).unwrap();
        assert!(texts(&svg).contains(&"load"));
        report.modes.clear();
        let svg = render(&report).unwrap();
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(rect_fills(&svg).iter().all(|fill| !LABEL_COLORS.iter().any(|&c| hex(c) == *fill)));
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("no-such-directory").join("bench.svg");
        let error = write_svg(&YcsbReport::synthetic(&LABELS, &PHASES), &path).unwrap_err();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(!path.exists());
    }

    #[test]
    fn axis_values_are_compact() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(0.5), "0.5");
        assert_eq!(compact(1500.0), "1.5k");
        assert_eq!(compact(2_000_000.0), "2M");
    }

    #[test]
    fn bars_of_a_phase_stay_inside_its_unit_and_do_not_overlap() {
        let report = YcsbReport::synthetic(&LABELS, &PHASES);
        let columns = Columns::of(&report);
        for phase_index in 0..PHASES.len() {
            let spans: Vec<(f64, f64)> =
                (0..LABELS.len()).map(|label| columns.bar_span(phase_index, label)).collect();
            assert!(spans[0].0 > phase_index as f64);
            assert!(spans[LABELS.len() - 1].1 < (phase_index + 1) as f64);
            for pair in spans.windows(2) {
                assert!(pair[0].0 < pair[0].1, "{pair:?}");
                assert!(pair[0].1 < pair[1].0, "{pair:?}");
            }
        }
        assert_eq!(columns.phase_at(1.5), "a");
    }
}
