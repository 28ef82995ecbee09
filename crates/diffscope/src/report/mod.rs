//! Figures (PNG + SVG) and the offline HTML report. The only module that depends on plotters. The
//! experiments' run-directory writers live beside it ([`regimes`]).
//!
//! A figure is described by a plain [`Plot`] value and rendered twice (bitmap and SVG) by one function,
//! so PNG and SVG always show the same thing. Fonts are the embedded DejaVu Sans (no system fonts needed).

pub mod geometry;
pub mod memorise;
pub mod regimes;
pub mod stats;
pub mod train;

use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One curve of a figure.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values.
    pub y: Vec<f64>,
    /// Optional confidence band (lower, upper), same length as x.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    /// Draw markers (measurements) instead of a plain line (theory).
    pub markers: bool,
}

/// A figure: line/marker series, or a histogram, with labelled axes and marked vertical lines.
#[derive(Clone, Debug, Default)]
pub struct Plot {
    /// Title.
    pub title: String,
    /// x-axis label (with units).
    pub x_label: String,
    /// y-axis label (with units).
    pub y_label: String,
    /// Curves.
    pub series: Vec<Series>,
    /// Histogram values (drawn as bars when non-empty) and bin count.
    pub histogram: Option<(Vec<f64>, usize)>,
    /// Vertical reference lines: (x, legend label).
    pub vlines: Vec<(f64, String)>,
    /// Horizontal reference lines: (y, legend label).
    pub hlines: Vec<(f64, String)>,
    /// y range (in data units); derived from the data when `None`.
    pub y_range: Option<(f64, f64)>,
    /// Logarithmic x axis: the data are given in natural units (non-positive values are dropped), drawn
    /// at log10 x, and the ticks are labelled with the values themselves.
    pub log_x: bool,
    /// Logarithmic y axis, as `log_x`.
    pub log_y: bool,
    /// Where the legend sits (upper right unless the curves need that corner).
    pub legend: LegendAt,
}

/// A legend's corner of the plotting area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LegendAt {
    /// Upper right.
    #[default]
    UpperRight,
    /// Lower middle.
    LowerMiddle,
    /// Upper left.
    UpperLeft,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

impl Plot {
    /// Renders `<base>.png` and `<base>.svg` (each written atomically); returns the PNG path.
    pub fn render(&self, base: &Path) -> Result<PathBuf> {
        register_fonts();
        let this = self.to_drawn_coordinates();
        let this = &this;
        let png = base.with_extension("png");
        let svg = base.with_extension("svg");
        // A per-process temporary name: two processes rendering the same figure (two shards merging a
        // sweep at once) must not rename each other's file away.
        let tmp_png = base.with_extension(format!("png.{}.partial.png", std::process::id()));
        {
            let root = BitMapBackend::new(&tmp_png, (900, 560)).into_drawing_area();
            this.draw(root)
                .map_err(|e| Error::format(&png, format!("cannot draw figure: {e}")))?;
        }
        std::fs::rename(&tmp_png, &png).map_err(|e| {
            let _ = std::fs::remove_file(&tmp_png);
            Error::io(&png, e)
        })?;
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, (900, 560)).into_drawing_area();
            this.draw(root)
                .map_err(|e| Error::format(&svg, format!("cannot draw figure: {e}")))?;
        }
        crate::io::write_text(&svg, &text)?;
        Ok(png)
    }

    /// The plot with its log axes applied to the data (log10 of positive values, NaN otherwise): what
    /// `draw` puts on its linear coordinates.
    fn to_drawn_coordinates(&self) -> Plot {
        let mut p = self.clone();
        let lg = |v: f64| if v > 0.0 { v.log10() } else { f64::NAN };
        let lg_all = |v: &mut Vec<f64>| v.iter_mut().for_each(|x| *x = lg(*x));
        for s in &mut p.series {
            if self.log_x {
                lg_all(&mut s.x);
            }
            if self.log_y {
                lg_all(&mut s.y);
                if let Some((lo, hi)) = &mut s.band {
                    lg_all(lo);
                    lg_all(hi);
                }
            }
        }
        if self.log_x {
            p.vlines.iter_mut().for_each(|v| v.0 = lg(v.0));
            p.vlines.retain(|v| v.0.is_finite());
            if let Some((v, _)) = &mut p.histogram {
                lg_all(v);
            }
        }
        if self.log_y {
            p.hlines.iter_mut().for_each(|h| h.0 = lg(h.0));
            p.hlines.retain(|h| h.0.is_finite());
            p.y_range = self.y_range.map(|(a, b)| (lg(a), lg(b)));
        }
        p
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let mut xs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.x.iter().copied())
            .collect();
        xs.extend(self.vlines.iter().map(|v| v.0));
        let mut ys: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| {
                s.y.iter()
                    .copied()
                    .chain(s.band.iter().flat_map(|b| b.0.iter().chain(&b.1).copied()))
            })
            .collect();
        ys.extend(self.hlines.iter().map(|h| h.0));
        if let Some((v, _)) = &self.histogram {
            xs.extend(v.iter().copied());
        }
        let finite = |v: &[f64]| {
            let (lo, hi) = v
                .iter()
                .filter(|x| x.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            if lo.is_finite() {
                if hi > lo {
                    (lo, hi)
                } else {
                    (lo - 0.5, hi + 0.5)
                }
            } else {
                (0.0, 1.0)
            }
        };
        let (x0, x1) = finite(&xs);
        let (y0, y1) = self.y_range.unwrap_or_else(|| {
            let (a, b) = finite(&ys);
            let pad = 0.05 * (b - a);
            (a - pad, b + pad)
        });
        let xpad = 0.02 * (x1 - x0);
        ((x0 - xpad, x1 + xpad), (y0, y1))
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
    ) -> std::result::Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let e = |x: &dyn std::fmt::Display| x.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let ((x0, x1), (mut y0, mut y1)) = self.ranges();
        let hist = self.histogram.as_ref().map(|(v, bins)| {
            let bins = (*bins).max(1);
            let w = (x1 - x0) / bins as f64;
            let mut counts = vec![0usize; bins];
            v.iter()
                .filter(|x| x.is_finite())
                .for_each(|&x| counts[(((x - x0) / w) as usize).min(bins - 1)] += 1);
            (w, counts)
        });
        if let Some((_, c)) = &hist {
            y0 = 0.0;
            y1 = *c.iter().max().unwrap_or(&1) as f64 * 1.1;
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|x| e(&x))?;
        let pow10 = |v: &f64| log_tick_label(*v);
        let (xspan, yspan) = (x1 - x0, y1 - y0);
        let xlin = |v: &f64| linear_tick_label(*v, xspan);
        let ylin = |v: &f64| linear_tick_label(*v, yspan);
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .light_line_style(RGBColor(235, 235, 235));
        if self.log_x {
            mesh.x_label_formatter(&pow10);
        } else {
            mesh.x_label_formatter(&xlin);
        }
        if self.log_y {
            mesh.y_label_formatter(&pow10);
        } else {
            mesh.y_label_formatter(&ylin);
        }
        mesh.draw().map_err(|x| e(&x))?;
        if let Some((w, counts)) = &hist {
            chart
                .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                    let a = x0 + i as f64 * w;
                    Rectangle::new([(a, 0.0), (a + w, c as f64)], COLORS[0].mix(0.6).filled())
                }))
                .map_err(|x| e(&x))?
                .label("trajectories")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], COLORS[0].mix(0.6).filled())
                });
        }
        for (i, s) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            if let Some((lo, hi)) = &s.band {
                let poly: Vec<(f64, f64)> =
                    s.x.iter()
                        .zip(lo)
                        .map(|(&x, &y)| (x, y))
                        .chain(s.x.iter().zip(hi).rev().map(|(&x, &y)| (x, y)))
                        .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        poly,
                        color.mix(0.18).filled(),
                    )))
                    .map_err(|x| e(&x))?;
            }
            let pts: Vec<(f64, f64)> =
                s.x.iter()
                    .zip(&s.y)
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .map(|(&x, &y)| (x, y))
                    .collect();
            if s.markers {
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.mix(0.5).stroke_width(1)))
                    .map_err(|x| e(&x))?;
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(|x| e(&x))?
                    .label(&s.name)
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
            } else {
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(3)))
                    .map_err(|x| e(&x))?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
                    });
            }
        }
        for (j, (x, label)) in self.vlines.iter().enumerate() {
            let color = COLORS[(self.series.len() + 1 + j) % COLORS.len()];
            let style = ShapeStyle {
                color: color.to_rgba(),
                filled: false,
                stroke_width: 2,
            };
            chart
                .draw_series(DashedLineSeries::new(vec![(*x, y0), (*x, y1)], 8, 5, style))
                .map_err(|x| e(&x))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
        for (y, label) in &self.hlines {
            let style = ShapeStyle {
                color: BLACK.mix(0.5),
                filled: false,
                stroke_width: 1,
            };
            chart
                .draw_series(DashedLineSeries::new(vec![(x0, *y), (x1, *y)], 4, 4, style))
                .map_err(|x| e(&x))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 15))
            .position(match self.legend {
                LegendAt::UpperRight => SeriesLabelPosition::UpperRight,
                LegendAt::LowerMiddle => SeriesLabelPosition::LowerMiddle,
                LegendAt::UpperLeft => SeriesLabelPosition::UpperLeft,
            })
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
        Ok(())
    }
}

/// Escapes text for HTML.
/// The label of a tick at `v` on a linear axis spanning `span`: enough decimals to tell ticks a tenth of
/// the span apart, e-notation for spans below 1e-3 or values from 1e6 on.
pub fn linear_tick_label(v: f64, span: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if span < 1e-3 || v.abs() >= 1e6 {
        return if v == 0.0 {
            "0".into()
        } else {
            format!("{v:.2e}")
        };
    }
    let decimals = (1 - span.log10().floor() as i32).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// The label of a tick at log10 value `v` on a log axis: the value 10^v with two significant digits
/// ("0.001", "0.0032", "1", "250"), or in e-notation outside [1e-4, 1e5).
pub fn log_tick_label(v: f64) -> String {
    let x = 10f64.powf(v);
    if !x.is_finite() || x <= 0.0 {
        return String::new();
    }
    if !(1e-4..1e5).contains(&x) {
        return format!("{x:.1e}");
    }
    // Two significant digits, printed without trailing zeros.
    let digits = (1 - x.log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML report: a title, a table of (quantity, theory, measured, note) rows and figures
/// (relative PNG paths), readable offline.
pub fn html_report(
    title: &str,
    intro: &str,
    table: &[[String; 4]],
    figures: &[(String, String)],
) -> String {
    let header = ["quantity", "theory", "measured", "note"];
    html_report_with(title, intro, header, table, figures)
}

/// [`html_report`] with the table's four column names given.
pub fn html_report_with(
    title: &str,
    intro: &str,
    header: [&str; 4],
    table: &[[String; 4]],
    figures: &[(String, String)],
) -> String {
    let mut h = String::new();
    h.push_str(&format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title>\n<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}th{{background:#f3f3f3}}figure{{margin:1.5em 0}}img{{max-width:100%}}</style></head><body>\n<h1>{0}</h1>\n<p>{1}</p>\n", html_escape(title), html_escape(intro)));
    h.push_str(&format!(
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
        html_escape(header[0]),
        html_escape(header[1]),
        html_escape(header[2]),
        html_escape(header[3])
    ));
    for row in table {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html_escape(&row[0]),
            html_escape(&row[1]),
            html_escape(&row[2]),
            html_escape(&row[3])
        ));
    }
    h.push_str("</table>\n");
    for (file, caption) in figures {
        h.push_str(&format!(
            "<figure><img src=\"{}\" alt=\"{1}\"><figcaption>{1}</figcaption></figure>\n",
            html_escape(file),
            html_escape(caption)
        ));
    }
    h.push_str("</body></html>\n");
    h
}

/// The PNG bytes of a grid of images: `tiles` in row-major order, `cols` per row, each tile a row of
/// data with the layout `info` (channels first), its values mapped linearly from `info.range` (black,
/// white) to 0–255 and clamped, enlarged `scale` times (nearest neighbour), tiles separated by 2-pixel
/// mid-gray gaps. A `None` tile stays blank.
pub fn image_grid_png(
    tiles: &[Option<&[f32]>],
    info: &crate::data::ImageInfo,
    cols: usize,
    scale: usize,
) -> Result<Vec<u8>> {
    let (c, h, w) = (info.channels, info.height, info.width);
    if tiles.is_empty() || cols == 0 || scale == 0 || info.is_empty() {
        return Err(Error::param(
            "image grid",
            format!("{} tiles, {cols} columns, scale {scale}", tiles.len()),
            "at least one tile, column and scale 1",
        ));
    }
    if let Some(t) = tiles.iter().flatten().find(|t| t.len() != info.len()) {
        return Err(Error::shape(
            "image grid",
            format!(
                "a tile has {} values, the image layout {c}×{h}×{w} needs {}",
                t.len(),
                info.len()
            ),
        ));
    }
    let gap = 2;
    let rows = tiles.len().div_ceil(cols);
    let (tw, th) = (w * scale, h * scale);
    let width = cols * tw + (cols + 1) * gap;
    let height = rows * th + (rows + 1) * gap;
    let mut img =
        image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([128, 128, 128]));
    let (lo, hi) = info.range;
    let byte = |v: f32| (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8;
    for (k, tile) in tiles.iter().enumerate() {
        let Some(t) = tile else { continue };
        let (x0, y0) = (gap + (k % cols) * (tw + gap), gap + (k / cols) * (th + gap));
        for r in 0..th {
            for q in 0..tw {
                let p = (r / scale) * w + q / scale;
                let px = if c == 1 {
                    let g = byte(t[p]);
                    [g, g, g]
                } else {
                    [byte(t[p]), byte(t[h * w + p]), byte(t[2 * h * w + p])]
                };
                img.put_pixel((x0 + q) as u32, (y0 + r) as u32, image::Rgb(px));
            }
        }
    }
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::format("image grid", format!("cannot encode the PNG: {e}")))?;
    Ok(bytes)
}

/// Writes the sample grid of a run on image data: one row per class with up to `per_class` samples of
/// that class (`classes[i]` of sample i), each followed by its nearest training image when `nearest` is
/// given; pixel values as loaded (the centring mean added back). Returns false without writing when the
/// data have no image layout.
pub fn sample_grid(
    path: &Path,
    data: &crate::data::Dataset,
    samples: &[f32],
    classes: &[u16],
    nearest: Option<&[u32]>,
    per_class: usize,
) -> Result<bool> {
    match sample_grid_png(data, samples, classes, nearest, per_class)? {
        Some(bytes) => {
            crate::io::write_atomic(path, |f| f.write_all(&bytes))?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The PNG bytes of [`sample_grid`] (None without an image layout).
pub fn sample_grid_png(
    data: &crate::data::Dataset,
    samples: &[f32],
    classes: &[u16],
    nearest: Option<&[u32]>,
    per_class: usize,
) -> Result<Option<Vec<u8>>> {
    let Some(info) = &data.image else {
        return Ok(None);
    };
    let d = data.d;
    let cols = if nearest.is_some() {
        2 * per_class
    } else {
        per_class
    };
    let n_classes = data.class_names.len().max(1);
    let mut owned: Vec<Option<Vec<f32>>> = Vec::new();
    for k in 0..n_classes {
        let mut row: Vec<Option<Vec<f32>>> = Vec::with_capacity(cols);
        let picks = classes
            .iter()
            .enumerate()
            .filter(|(_, &c)| c as usize == k)
            .take(per_class);
        for (i, _) in picks {
            row.push(Some(data.display_row(&samples[i * d..(i + 1) * d])));
            if let Some(nn) = nearest {
                let j = nn[i] as usize;
                row.push((j < data.n).then(|| data.display_row(data.row(j))));
            }
        }
        row.resize(cols, None);
        owned.extend(row);
    }
    let tiles: Vec<Option<&[f32]>> = owned.iter().map(|t| t.as_deref()).collect();
    // Small images are enlarged to about 64 pixels (8 × 8 digits 8×, 28 × 28 images 2×).
    let scale = (64 / info.height.max(info.width)).clamp(1, 8);
    Ok(Some(image_grid_png(&tiles, info, cols, scale)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tick_labels_show_the_values() {
        let l = |x: f64| log_tick_label(x.log10());
        assert_eq!(l(0.001), "0.001");
        assert_eq!(l(0.003_162_28), "0.0032");
        assert_eq!(l(1.0), "1");
        assert_eq!(l(0.999_999), "1");
        assert_eq!(l(3.162_28), "3.2");
        assert_eq!(l(250.0), "250");
        assert_eq!(l(316_228.0), "3.2e5");
        assert_eq!(l(3.162_28e-5), "3.2e-5");
    }

    #[test]
    fn linear_tick_labels_resolve_the_span() {
        assert_eq!(linear_tick_label(0.5, 1.0), "0.5");
        assert_eq!(linear_tick_label(9.0, 9.5), "9.0");
        assert_eq!(linear_tick_label(60.0, 64.0), "60");
        assert_eq!(linear_tick_label(1500.0, 2000.0), "1500");
        assert_eq!(linear_tick_label(0.012, 0.05), "0.012");
        assert_eq!(linear_tick_label(1.5e-8, 3e-8), "1.50e-8");
        assert_eq!(linear_tick_label(0.0, 3e-8), "0");
        assert_eq!(linear_tick_label(2.5e6, 1e7), "2.50e6");
    }

    #[test]
    fn log_axes_transform_data_lines_and_ranges() {
        let p = Plot {
            series: vec![Series {
                name: "s".into(),
                x: vec![0.01, 0.1, -1.0],
                y: vec![10.0, 100.0, 1000.0],
                band: Some((vec![1.0, 10.0, 100.0], vec![100.0, 1e3, 1e4])),
                markers: true,
            }],
            vlines: vec![(1.0, "one".into()), (0.0, "zero".into())],
            hlines: vec![(10.0, "ten".into())],
            y_range: Some((1.0, 1e4)),
            log_x: true,
            log_y: true,
            ..Plot::default()
        };
        let q = p.to_drawn_coordinates();
        let s = &q.series[0];
        assert_eq!(&s.x[..2], &[-2.0, -1.0]);
        assert!(s.x[2].is_nan(), "non-positive values are dropped");
        assert_eq!(s.y, vec![1.0, 2.0, 3.0]);
        assert_eq!(s.band.as_ref().unwrap().0, vec![0.0, 1.0, 2.0]);
        assert_eq!(
            q.vlines.len(),
            1,
            "a vertical line at x = 0 has no place on a log axis"
        );
        assert_eq!(q.vlines[0].0, 0.0);
        assert_eq!(q.hlines[0].0, 1.0);
        assert_eq!(q.y_range, Some((0.0, 4.0)));
        // Linear axes are left alone.
        let lin = Plot {
            log_x: false,
            log_y: false,
            ..p.clone()
        }
        .to_drawn_coordinates();
        assert_eq!(lin.series[0].x[2], -1.0);
        assert_eq!(lin.y_range, Some((1.0, 1e4)));
    }

    #[test]
    fn a_log_log_figure_renders() {
        let dir = std::env::temp_dir().join(format!("diffscope-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let x: Vec<f64> = (0..50).map(|i| 10f64.powf(-3.0 + 0.1 * i as f64)).collect();
        let png = Plot {
            title: "power law".into(),
            series: vec![Series {
                name: "x²".into(),
                y: x.iter().map(|v| v * v).collect(),
                x,
                band: None,
                markers: false,
            }],
            log_x: true,
            log_y: true,
            ..Plot::default()
        }
        .render(&dir.join("fig"))
        .unwrap();
        assert!(std::fs::metadata(&png).unwrap().len() > 1000);
        let svg = std::fs::read_to_string(dir.join("fig.svg")).unwrap();
        // Ticks labelled in data units (x ticks at half decades, y at decades).
        assert!(svg.contains("0.0032") && svg.contains("0.001") && svg.contains("1.0e-6"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
