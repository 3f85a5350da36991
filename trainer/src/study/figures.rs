//! Figures of the study report, drawn with plotters as SVG (inlined in `index.html`) and PNG.
//!
//! Input: plain descriptions of what to draw ([`LineFigure`]: panels of series with error bars,
//! log-x axes and a grey "not computable" region; [`Heatmap`]: a labelled grid of values).
//! Output: `STEM.svg` and `STEM.png`, both written atomically. The report module builds the
//! descriptions (accuracy vs labels, utility vs labels, the variant grid, linear evaluation vs
//! finetuning); nothing here knows about runs.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

/// Width of one panel in pixels.
pub const PANEL_W: u32 = 440;
/// Height of one panel in pixels.
pub const PANEL_H: u32 = 320;
const TITLE_H: u32 = 34;
const FONT: &str = "sans-serif";

/// A figure could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct FigureError {
    /// The figure file.
    pub path: PathBuf,
    /// Why (a missing system font shows up here).
    pub reason: String,
}

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// x (labels).
    pub x: f64,
    /// y (mean).
    pub y: f64,
    /// Lower end of the error bar.
    pub lo: Option<f64>,
    /// Upper end of the error bar.
    pub hi: Option<f64>,
    /// Drawn hollow (a bound rather than a value).
    pub hollow: bool,
}

impl Point {
    /// A plain point.
    pub fn new(x: f64, y: f64) -> Point {
        Point {
            x,
            y,
            lo: None,
            hi: None,
            hollow: false,
        }
    }
}

/// A named series (one method).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Key of the colour ([`color_of`]): the method name.
    pub color_key: String,
    /// Points (drawn in this order).
    pub points: Vec<Point>,
    /// Join the points with a line.
    pub line: bool,
}

/// One chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Caption.
    pub title: String,
    /// x axis description.
    pub x_desc: String,
    /// y axis description.
    pub y_desc: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Series.
    pub series: Vec<Series>,
    /// Curve above which values cannot be computed (shaded grey), as (x, y) points.
    pub grey_above: Option<Vec<(f64, f64)>>,
    /// Horizontal reference line (utility 0).
    pub hline: Option<f64>,
    /// Fixed y range.
    pub y_range: Option<(f64, f64)>,
}

/// Panels on a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFigure {
    /// Figure title.
    pub title: String,
    /// Panels, row by row.
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub cols: usize,
}

/// One cell of a heatmap.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Value that sets the colour.
    pub value: f64,
    /// Text in the cell.
    pub text: String,
    /// Shown greyed (a bound).
    pub grey: bool,
}

/// A labelled grid of values (rows x columns).
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Title.
    pub title: String,
    /// Row labels.
    pub rows: Vec<String>,
    /// Column labels.
    pub cols: Vec<String>,
    /// `cells[r][c]`; `None` = no data.
    pub cells: Vec<Vec<Option<Cell>>>,
    /// Colour scale centred on 0 (blue below, red above) rather than sequential.
    pub diverging: bool,
}

/// Colour of a method (fixed per name so every figure agrees).
pub fn color_of(key: &str) -> RGBColor {
    match key {
        "supervised" => RGBColor(30, 30, 30),
        "vae" => RGBColor(148, 103, 189),
        "rotation" => RGBColor(31, 119, 180),
        "cmc" => RGBColor(214, 39, 40),
        "amdim" => RGBColor(44, 160, 44),
        "simclr" => RGBColor(255, 127, 14),
        "byol" => RGBColor(140, 86, 75),
        "barlow" => RGBColor(227, 119, 194),
        other => {
            let h = xxhash_rust::xxh3::xxh3_64(other.as_bytes());
            RGBColor(
                (h & 0x7f) as u8 + 40,
                ((h >> 8) & 0x7f) as u8 + 40,
                ((h >> 16) & 0x7f) as u8 + 40,
            )
        }
    }
}

fn tmp_sibling(path: &Path, ext: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.tmp.{ext}"))
}

fn fig_err(path: &Path, e: impl std::fmt::Display) -> FigureError {
    FigureError {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Something drawable on any plotters backend.
trait Drawable {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `d` into `dir/STEM.svg` and `dir/STEM.png` (temp names, then renamed).
fn write_both<D: Drawable>(dir: &Path, stem: &str, d: &D) -> Result<[PathBuf; 2], FigureError> {
    let size = d.size();
    let svg_path = dir.join(format!("{stem}.svg"));
    let png_path = dir.join(format!("{stem}.png"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        d.draw(&root).map_err(|e| fig_err(&svg_path, e))?;
        root.present().map_err(|e| fig_err(&svg_path, e))?;
    }
    let tmp = tmp_sibling(&svg_path, "svg");
    std::fs::write(&tmp, svg.as_bytes()).map_err(|e| fig_err(&tmp, e))?;
    std::fs::rename(&tmp, &svg_path).map_err(|e| fig_err(&svg_path, e))?;

    let tmp = tmp_sibling(&png_path, "png");
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        d.draw(&root).map_err(|e| fig_err(&png_path, e))?;
        root.present().map_err(|e| fig_err(&png_path, e))?;
    }
    std::fs::rename(&tmp, &png_path).map_err(|e| fig_err(&png_path, e))?;
    Ok([svg_path, png_path])
}

/// Writes a [`LineFigure`] as `dir/STEM.svg` and `dir/STEM.png`.
///
/// # Errors
/// [`FigureError`] when drawing (fonts) or writing fails.
pub fn write_line_figure(
    dir: &Path,
    stem: &str,
    fig: &LineFigure,
) -> Result<[PathBuf; 2], FigureError> {
    write_both(dir, stem, fig)
}

/// Writes a [`Heatmap`] as `dir/STEM.svg` and `dir/STEM.png`.
///
/// # Errors
/// [`FigureError`] when drawing (fonts) or writing fails.
pub fn write_heatmap(dir: &Path, stem: &str, map: &Heatmap) -> Result<[PathBuf; 2], FigureError> {
    write_both(dir, stem, map)
}

fn e2s(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl LineFigure {
    fn grid(&self) -> (usize, usize) {
        let cols = self.cols.clamp(1, self.panels.len().max(1));
        (self.panels.len().div_ceil(cols).max(1), cols)
    }
}

impl Drawable for LineFigure {
    fn size(&self) -> (u32, u32) {
        let (rows, cols) = self.grid();
        // Wide enough for the title (about 10 px per character at size 20): a one-panel
        // figure's title is not cut off.
        let title_w = 20 + 10 * self.title.chars().count() as u32;
        (
            (cols as u32 * PANEL_W).max(title_w),
            rows as u32 * PANEL_H + TITLE_H,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (rows, cols) = self.grid();
        root.fill(&WHITE).map_err(e2s)?;
        let (top, body) = root.split_vertically(TITLE_H);
        top.draw(&Text::new(
            self.title.clone(),
            (10, 8),
            (FONT, 20).into_font().color(&BLACK),
        ))
        .map_err(e2s)?;
        let areas = body.split_evenly((rows, cols));
        for (panel, area) in self.panels.iter().zip(areas.iter()) {
            draw_panel(area, panel)?;
        }
        Ok(())
    }
}

/// Short axis labels: 100, 1k, 20k, 1M.
pub fn short_count(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{}M", trim(x / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(x / 1e3))
    } else {
        trim(x)
    }
}

/// A tick label of a linear axis: up to three decimals, trailing zeros dropped (ticks 0.05
/// apart stay distinct: `0.35`, `0.4`).
fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn ranges(panel: &Panel) -> ((f64, f64), (f64, f64)) {
    let pts = panel.series.iter().flat_map(|s| s.points.iter());
    let xs: Vec<f64> = pts.clone().map(|p| p.x).filter(|x| x.is_finite()).collect();
    let mut ys: Vec<f64> = pts
        .flat_map(|p| [Some(p.y), p.lo, p.hi])
        .flatten()
        .filter(|y| y.is_finite())
        .collect();
    ys.extend(panel.hline);
    let (mut x0, mut x1) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if !x0.is_finite() {
        (x0, x1) = (1.0, 10.0);
    }
    let xr = if panel.log_x {
        let (a, b) = (x0.max(1e-9), x1.max(1e-9));
        (a / 1.5, b * 1.5)
    } else {
        let pad = ((x1 - x0) * 0.05).max(1e-3);
        (x0 - pad, x1 + pad)
    };
    let yr = match panel.y_range {
        Some(r) => r,
        None => {
            let (mut y0, mut y1) = ys
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
                    (a.min(y), b.max(y))
                });
            if !y0.is_finite() {
                (y0, y1) = (0.0, 1.0);
            }
            let pad = ((y1 - y0) * 0.08).max(0.02);
            (y0 - pad, y1 + pad)
        }
    };
    (xr, yr)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), String> {
    let ((x0, x1), (y0, y1)) = ranges(panel);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(panel.title.clone(), (FONT, 15))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(48);
    if panel.log_x {
        let mut chart = builder
            .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
            .map_err(e2s)?;
        fill_chart(&mut chart, panel, (x0, x1), (y0, y1))
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(e2s)?;
        fill_chart(&mut chart, panel, (x0, x1), (y0, y1))
    }
}

fn fill_chart<'a, DB, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    panel: &Panel,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let log_x = panel.log_x;
    let fmt = move |x: &f64| if log_x { short_count(*x) } else { trim(*x) };
    chart
        .configure_mesh()
        .x_desc(panel.x_desc.clone())
        .y_desc(panel.y_desc.clone())
        .x_label_formatter(&fmt)
        .y_label_formatter(&|y: &f64| trim(*y))
        .x_labels(if log_x { 6 } else { 8 })
        .label_style((FONT, 12))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(e2s)?;
    if let Some(curve) = &panel.grey_above {
        let mut poly: Vec<(f64, f64)> = curve
            .iter()
            .filter(|p| p.0 >= x0 && p.0 <= x1 && p.1.is_finite())
            .map(|&(x, y)| (x, y.clamp(y0, y1)))
            .collect();
        if let (Some(first), Some(last)) = (poly.first().copied(), poly.last().copied()) {
            poly.push((last.0, y1));
            poly.push((first.0, y1));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    poly,
                    RGBColor(190, 190, 190).mix(0.45).filled(),
                )))
                .map_err(e2s)?;
        }
    }
    if let Some(h) = panel.hline
        && h >= y0
        && h <= y1
    {
        chart
            .draw_series(LineSeries::new([(x0, h), (x1, h)], BLACK.mix(0.35)))
            .map_err(e2s)?;
    }
    let mut labelled = false;
    for s in &panel.series {
        let color = color_of(&s.color_key);
        if s.line && s.points.len() > 1 {
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().map(|p| (p.x, p.y)),
                    color.stroke_width(2),
                ))
                .map_err(e2s)?;
        }
        // Error bars: a vertical line and caps (an open upper end runs to the top).
        let bars: Vec<(f64, f64, Option<f64>)> = s
            .points
            .iter()
            .filter_map(|p| Some((p.x, p.lo?, p.hi)))
            .collect();
        chart
            .draw_series(bars.iter().map(|&(x, lo, hi)| {
                PathElement::new(vec![(x, lo), (x, hi.unwrap_or(y1))], color.stroke_width(1))
            }))
            .map_err(e2s)?;
        let caps: Vec<(f64, f64)> = bars
            .iter()
            .flat_map(|&(x, lo, hi)| std::iter::once((x, lo)).chain(hi.map(|h| (x, h))))
            .collect();
        chart
            .draw_series(caps.iter().map(|&(x, v)| {
                EmptyElement::at((x, v))
                    + PathElement::new(vec![(-4, 0), (4, 0)], color.stroke_width(1))
            }))
            .map_err(e2s)?;
        let line = s.line;
        chart
            .draw_series(s.points.iter().map(|p| {
                if p.hollow {
                    Circle::new((p.x, p.y), 4, color.stroke_width(2))
                } else {
                    Circle::new((p.x, p.y), 3, color.filled())
                }
            }))
            .map_err(e2s)?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                if line {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (16, 0)], color.stroke_width(2))
                } else {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(6, 0), (10, 0)], color.stroke_width(6))
                }
            });
        labelled = true;
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(e2s)?;
    }
    Ok(())
}

const HM_LEFT: u32 = 150;
const HM_CELL_W: u32 = 96;
const HM_CELL_H: u32 = 30;
const HM_HEAD: u32 = 30;

impl Drawable for Heatmap {
    fn size(&self) -> (u32, u32) {
        (
            (HM_LEFT + self.cols.len().max(1) as u32 * HM_CELL_W + 10)
                .max(self.title.chars().count() as u32 * 10 + 20),
            TITLE_H + HM_HEAD + self.rows.len().max(1) as u32 * HM_CELL_H + 10,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e2s)?;
        let centre = |size: u32| {
            (FONT, size)
                .into_font()
                .color(&BLACK)
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ))
        };
        root.draw(&Text::new(
            self.title.clone(),
            (10, 8),
            (FONT, 18).into_font().color(&BLACK),
        ))
        .map_err(e2s)?;
        let top = (TITLE_H + HM_HEAD) as i32;
        for (c, name) in self.cols.iter().enumerate() {
            let x = (HM_LEFT + c as u32 * HM_CELL_W + HM_CELL_W / 2) as i32;
            root.draw(&Text::new(
                name.clone(),
                (x, top - HM_HEAD as i32 / 2),
                centre(14),
            ))
            .map_err(e2s)?;
        }
        let max_abs = self
            .cells
            .iter()
            .flatten()
            .flatten()
            .map(|c| c.value.abs())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            .max(1e-9);
        for (r, name) in self.rows.iter().enumerate() {
            let y = top + (r as u32 * HM_CELL_H) as i32;
            root.draw(&Text::new(
                name.clone(),
                (8, y + HM_CELL_H as i32 / 2 - 7),
                (FONT, 14).into_font().color(&BLACK),
            ))
            .map_err(e2s)?;
            for c in 0..self.cols.len() {
                let x = (HM_LEFT + c as u32 * HM_CELL_W) as i32;
                let cell = self
                    .cells
                    .get(r)
                    .and_then(|row| row.get(c))
                    .cloned()
                    .flatten();
                let (fill, text) = match &cell {
                    Some(cell) => {
                        let t = (cell.value / max_abs).clamp(-1.0, 1.0);
                        let col = if !cell.value.is_finite() {
                            RGBColor(235, 235, 235)
                        } else if self.diverging {
                            if t >= 0.0 {
                                lerp((255, 255, 255), (214, 96, 77), t)
                            } else {
                                lerp((255, 255, 255), (67, 147, 195), -t)
                            }
                        } else {
                            lerp((255, 255, 255), (65, 171, 93), t.max(0.0))
                        };
                        let col = if cell.grey {
                            lerp_rgb(col, RGBColor(200, 200, 200), 0.6)
                        } else {
                            col
                        };
                        (col, cell.text.clone())
                    }
                    None => (RGBColor(245, 245, 245), "-".to_string()),
                };
                root.draw(&Rectangle::new(
                    [
                        (x + 1, y + 1),
                        (x + HM_CELL_W as i32 - 1, y + HM_CELL_H as i32 - 1),
                    ],
                    fill.filled(),
                ))
                .map_err(e2s)?;
                root.draw(&Text::new(
                    text,
                    (x + HM_CELL_W as i32 / 2, y + HM_CELL_H as i32 / 2),
                    centre(13),
                ))
                .map_err(e2s)?;
            }
        }
        Ok(())
    }
}

fn lerp(a: (u8, u8, u8), b: (u8, u8, u8), t: f64) -> RGBColor {
    lerp_rgb(RGBColor(a.0, a.1, a.2), RGBColor(b.0, b.1, b.2), t)
}

fn lerp_rgb(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let f = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * t.clamp(0.0, 1.0)).round() as u8;
    RGBColor(f(a.0, b.0), f(a.1, b.1), f(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_tick_labels_keep_close_ticks_apart() {
        let t: Vec<String> = [0.35, 0.4, 0.45, 1000.0, -0.0001, -0.25]
            .iter()
            .map(|&x| trim(x))
            .collect();
        assert_eq!(t, ["0.35", "0.4", "0.45", "1000", "0", "-0.25"]);
    }

    fn panel(log_x: bool) -> Panel {
        Panel {
            title: "classification on ----".into(),
            x_desc: "labels".into(),
            y_desc: "utility".into(),
            log_x,
            series: vec![
                Series {
                    label: "rotation".into(),
                    color_key: "rotation".into(),
                    points: vec![
                        Point {
                            lo: Some(1.0),
                            hi: Some(3.0),
                            ..Point::new(100.0, 2.0)
                        },
                        Point {
                            hollow: true,
                            ..Point::new(1000.0, 1.5)
                        },
                    ],
                    line: true,
                },
                Series {
                    label: "simclr".into(),
                    color_key: "simclr".into(),
                    points: vec![Point {
                        lo: Some(0.5),
                        hi: None,
                        ..Point::new(100.0, 1.0)
                    }],
                    line: false,
                },
            ],
            grey_above: Some(
                (0..20)
                    .map(|k| {
                        let x = 50.0 * 1.3f64.powi(k);
                        (x, 1000.0 / x - 1.0)
                    })
                    .collect(),
            ),
            hline: Some(0.0),
            y_range: None,
        }
    }

    #[test]
    fn line_figures_are_written_as_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let fig = LineFigure {
            title: "Utility".into(),
            panels: vec![panel(true), panel(false), panel(true)],
            cols: 2,
        };
        let [svg, png] = write_line_figure(dir.path(), "utility", &fig).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("rotation") && text.contains("1k"),
            "{text:.200}"
        );
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp files left: {names:?}");
    }

    #[test]
    fn heatmaps_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let map = Heatmap {
            title: "mean utility".into(),
            rows: vec!["rotation".into(), "simclr".into()],
            cols: vec!["----".into(), "TCVL".into()],
            cells: vec![
                vec![
                    Some(Cell {
                        value: 1.5,
                        text: "1.50".into(),
                        grey: false,
                    }),
                    None,
                ],
                vec![
                    Some(Cell {
                        value: -0.5,
                        text: "-0.50".into(),
                        grey: false,
                    }),
                    Some(Cell {
                        value: 3.0,
                        text: ">=3.00".into(),
                        grey: true,
                    }),
                ],
            ],
            diverging: true,
        };
        let [svg, png] = write_heatmap(dir.path(), "grid", &map).unwrap();
        assert!(std::fs::read_to_string(svg).unwrap().contains("TCVL"));
        assert!(png.exists());
    }

    #[test]
    fn short_counts() {
        assert_eq!(short_count(100.0), "100");
        assert_eq!(short_count(4000.0), "4k");
        assert_eq!(short_count(2500.0), "2.5k");
        assert_eq!(short_count(200_000.0), "200k");
        assert_eq!(short_count(1e6), "1M");
    }
}
