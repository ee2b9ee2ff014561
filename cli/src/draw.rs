//! Pictures of a free set, drawn with `plotters` into SVG or PNG (chosen by
//! the file's extension): the shard map of `freeset inspect --map` and the
//! time line of `freeset simulate --plot`.
//!
//! What lives here: the two drawings, the font they write with, and the
//! formatting of block and byte counts they share with the text output.
//! What must never happen here: hand-written SVG or pixels (everything goes
//! through `plotters`), a panic on a file that cannot be written (every
//! failure is an error message naming the file), or a drawing that needs the
//! library to know about pictures (the library stays free of all this).
//!
//! Text needs a font even in SVG (`plotters` measures labels to lay the
//! chart out), and this crate is built without the system font stack
//! (`font-kit`, which links fontconfig and freetype): it uses `ab_glyph`
//! with a TrueType file read at run time, DejaVu Sans from Debian's
//! `fonts-dejavu-core` by default, or the file `FREESET_FONT` names.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::FontStyle;

/// The environment variable naming a TrueType font file for the text.
pub const FONT_VAR: &str = "FREESET_FONT";

/// Where the font is looked for when `FREESET_FONT` is not set: Debian's
/// `fonts-dejavu-core`, and the same font where other systems put it.
const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

/// The font family every label is drawn with.
const FAMILY: &str = "sans-serif";

/// Registers the font once per process; every drawing calls it first.
fn font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates: Vec<PathBuf> = match std::env::var_os(FONT_VAR) {
            Some(path) => vec![PathBuf::from(path)],
            None => FONT_PATHS.iter().map(PathBuf::from).collect(),
        };
        let Some((path, bytes)) = candidates
            .iter()
            .find_map(|path| read_font(path).map(|bytes| (path, bytes)))
        else {
            return Err(format!(
                "no font for the picture's text: install Debian's fonts-dejavu-core, or set \
                 {FONT_VAR} to a TrueType file (looked at {})",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        // plotters keeps fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a TrueType font", path.display()))
    })
    .clone()
}

/// The most bytes a font file may take: 64 MiB (DejaVu Sans is under 1 MiB,
/// the largest CJK fonts about 20 MiB). A longer file, or `/dev/zero`, is no
/// font and is not read past that.
const FONT_BYTES_MAX: u64 = 64 << 20;

/// The bytes of the font file at `path`, `None` if it cannot be read or is
/// longer than [`FONT_BYTES_MAX`].
fn read_font(path: &Path) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(FONT_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= FONT_BYTES_MAX).then_some(bytes)
}

/// The picture formats, by file extension.
enum Format {
    Svg,
    Png,
}

fn format_of(path: &Path) -> Result<Format, String> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(format!(
            "{}: the picture's name must end in .svg or .png",
            path.display()
        )),
    }
}

/// Checks what can be checked of a picture's path before anything is
/// drawn: its extension names a format, and its directory exists. The
/// commands call it before they work, so that a bad name fails at once.
pub fn check_path(path: &Path) -> Result<(), String> {
    format_of(path)?;
    // The backends report a missing directory only as a nested I/O error.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(format!(
                "{}: no directory {} to write the picture into",
                path.display(),
                parent.display()
            ));
        }
    }
    Ok(())
}

/// Draws with `draw` on an SVG or PNG of `size` pixels at `path`.
fn picture(
    path: &Path,
    size: (u32, u32),
    draw: impl Fn(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
    draw_png: impl Fn(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<(), String> {
    check_path(path)?;
    let format = format_of(path)?;
    font()?;
    let failed = |e: String| format!("{}: {e}", path.display());
    match format {
        Format::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw(&root).map_err(failed)?;
            root.present().map_err(|e| failed(e.to_string()))
        }
        Format::Png => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw_png(&root).map_err(failed)?;
            root.present().map_err(|e| failed(e.to_string()))
        }
    }
}

/// What the shard map shows.
#[derive(Debug, Clone)]
pub struct Map {
    /// The title line.
    pub title: String,
    /// Blocks of the grid (the limit).
    pub blocks: u64,
    /// Bytes per block, for the byte axes.
    pub block_size: u64,
    /// Free blocks of each shard.
    pub shard_free: Vec<u32>,
    /// Released blocks (waiting for a durable checkpoint) of each shard.
    pub shard_released: Vec<u32>,
}

/// Blocks per shard (the library's `SHARD_BLOCKS`).
const SHARD: u64 = freeset::SHARD_BLOCKS;

impl Map {
    /// Shards per row of the grid: a power of two, about twice as many
    /// columns as rows, at most 256.
    fn columns(&self) -> u64 {
        let shards = self.shard_free.len().max(1) as f64;
        let ideal = (2.0 * shards).sqrt().ceil() as u64;
        ideal.next_power_of_two().clamp(1, 256)
    }

    /// Blocks of shard `shard` below the limit.
    fn shard_blocks(&self, shard: usize) -> u64 {
        self.blocks.saturating_sub(shard as u64 * SHARD).min(SHARD)
    }
}

/// The colour of a shard that is `acquired` full (0 to 1): light when free,
/// dark when full (viridis, read backwards: perceptually even, and readable
/// in grey and by colour-blind readers).
fn fullness_colour(acquired: f64) -> RGBColor {
    ViridisRGB::get_color_normalized(1.0 - acquired, 0.0, 1.0)
}

/// The marker of shards with released blocks.
const RELEASED: RGBColor = RGBColor(220, 20, 60);

/// Draws the shard map into `path` (SVG or PNG).
pub fn map(path: &Path, map: &Map) -> Result<(), String> {
    let size = (1200, 760);
    picture(
        path,
        size,
        |root| draw_map(root, map),
        |root| draw_map(root, map),
    )
}

fn draw_map<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, map: &Map) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (width, _) = root.dim_in_pixel();
    let (grid_area, legend_area) = root.split_horizontally(width.saturating_sub(170));

    let shards = map.shard_free.len() as u64;
    let columns = map.columns();
    let rows = shards.div_ceil(columns).max(1);
    let row_blocks = columns * SHARD;
    // Coordinates count shards across and rows down, so that the ticks fall
    // on whole shards and rows (round numbers of blocks and bytes); the
    // labels say blocks and bytes.
    let (x_max, y_max) = (columns as f64, rows as f64);
    let block_size = map.block_size;

    let mut chart = ChartBuilder::on(&grid_area)
        .caption(&map.title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(50)
        .top_x_label_area_size(50)
        .y_label_area_size(110)
        .right_y_label_area_size(90)
        .build_cartesian_2d(0f64..x_max, y_max..0f64)
        .map_err(e)?
        .set_secondary_coord(0f64..x_max, y_max..0f64);
    let x_blocks = |v: &f64| (v * SHARD as f64).round() as u64;
    let y_blocks = |v: &f64| (v * row_blocks as f64).round() as u64;
    let x_label = |v: &f64| count(x_blocks(v));
    let y_label = |v: &f64| count(y_blocks(v));
    let x_bytes = |v: &f64| bytes(x_blocks(v).saturating_mul(block_size));
    let y_bytes = |v: &f64| bytes(y_blocks(v).saturating_mul(block_size));
    let labels = |n: u64| (n as usize + 1).min(9);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(format!(
            "block offset in the row ({} shards of {} blocks)",
            columns,
            count(SHARD)
        ))
        .y_desc("first block of the row")
        .x_labels(labels(columns))
        .y_labels(labels(rows))
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(e)?;
    chart
        .configure_secondary_axes()
        .x_desc(format!(
            "byte offset in the row ({} blocks)",
            bytes(block_size)
        ))
        .y_desc("byte offset of the row")
        .x_labels(labels(columns))
        .y_labels(labels(rows))
        .x_label_formatter(&x_bytes)
        .y_label_formatter(&y_bytes)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(e)?;

    draw_cells(&mut chart, map, columns).map_err(e)?;

    draw_colour_bar(&legend_area).map_err(e)?;
    draw_released_legend(&legend_area).map_err(e)
}

/// One cell per shard, coloured by how full it is, with a dot where blocks
/// are released; `columns` shards per row.
fn draw_cells<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    map: &Map,
    columns: u64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let shards = map.shard_free.len() as u64;
    let rows = shards.div_ceil(columns).max(1);
    let cell = |shard: u64| ((shard % columns) as f64, (shard / columns) as f64);
    chart.draw_series((0..shards).map(|shard| {
        let (x, y) = cell(shard);
        let blocks = map.shard_blocks(shard as usize).max(1) as f64;
        let acquired = 1.0 - f64::from(map.shard_free[shard as usize]) / blocks;
        // The last shard is drawn as wide as its blocks below the limit.
        let width = blocks / SHARD as f64;
        Rectangle::new(
            [(x, y), (x + width, y + 1.0)],
            fullness_colour(acquired).filled(),
        )
    }))?;
    // Cell borders only while cells are large enough to show them.
    if columns <= 64 && rows <= 64 {
        chart.draw_series((0..shards).map(|shard| {
            let (x, y) = cell(shard);
            let width = map.shard_blocks(shard as usize) as f64 / SHARD as f64;
            Rectangle::new([(x, y), (x + width, y + 1.0)], WHITE.stroke_width(1))
        }))?;
    }
    let released: Vec<u64> = (0..shards)
        .filter(|&s| map.shard_released.get(s as usize).is_some_and(|&r| r > 0))
        .collect();
    let (plot_width, _) = chart.plotting_area().dim_in_pixel();
    let radius = ((plot_width as f64 / columns as f64) / 4.0).clamp(2.0, 6.0) as i32;
    chart.draw_series(released.iter().map(|&shard| {
        let (x, y) = cell(shard);
        Circle::new((x + 0.5, y + 0.5), radius, RELEASED.filled())
    }))?;
    Ok(())
}

/// The released marker's legend under the colour bar, out of the grid's way.
fn draw_released_legend<DB: DrawingBackend>(
    legend_area: &DrawingArea<DB, Shift>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (_, height) = legend_area.dim_in_pixel();
    let y = height as i32 - 70;
    legend_area.draw(&Circle::new((18, y), 6, RELEASED.filled()))?;
    for (i, text) in ["released blocks:", "free at the next", "durable checkpoint"]
        .iter()
        .enumerate()
    {
        legend_area.draw(&Text::new(
            *text,
            (30, y - 8 + 17 * i as i32),
            (FAMILY, 14).into_font(),
        ))?;
    }
    Ok(())
}

/// The legend of the fill colours: a bar from free (0% acquired) to full.
fn draw_colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut bar = ChartBuilder::on(area)
        .margin_top(90)
        .margin_bottom(90)
        .margin_right(20)
        .y_label_area_size(60)
        .caption("shard acquired", (FAMILY, 15))
        .build_cartesian_2d(0f64..1.0, 0f64..100.0)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .label_style((FAMILY, 13))
        .draw()?;
    bar.draw_series((0..100).map(|step| {
        let low = f64::from(step);
        Rectangle::new(
            [(0.0, low), (1.0, low + 1.0)],
            fullness_colour((low + 0.5) / 100.0).filled(),
        )
    }))?;
    Ok(())
}

/// One point of the time line of `freeset simulate --plot`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The operation at which it was taken.
    pub step: u64,
    /// Free blocks.
    pub free: u64,
    /// The largest free extent, in blocks.
    pub largest: u64,
    /// The fragmentation score of `freeset::Stats`.
    pub fragmentation: f64,
    /// The most blocks the set held (acquired, released not yet free) and
    /// the engine referenced (live) since the sample before.
    pub held: u64,
    pub live: u64,
}

/// What the time line shows.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub title: String,
    /// Blocks of the grid.
    pub blocks: u64,
    pub samples: Vec<Sample>,
    /// Operations at which the engine crashed and restarted.
    pub crashes: Vec<u64>,
    /// The run's mode, for the legend of the blocks held.
    pub mode: String,
    /// The same seed in the other mode (`--compare-reuse`): its blocks
    /// held and live are drawn beside this run's.
    pub other: Option<Other>,
}

/// The other run of a `--compare-reuse` seed.
#[derive(Debug, Clone)]
pub struct Other {
    pub mode: String,
    pub samples: Vec<Sample>,
}

const FREE_COLOUR: RGBColor = RGBColor(31, 119, 180);
const LARGEST_COLOUR: RGBColor = RGBColor(44, 160, 44);
const SCORE_COLOUR: RGBColor = RGBColor(214, 39, 40);
const HELD_COLOUR: RGBColor = RGBColor(148, 103, 189);
const OTHER_HELD_COLOUR: RGBColor = RGBColor(255, 127, 14);
const LIVE_COLOUR: RGBColor = RGBColor(60, 60, 60);
/// Height of the free-space chart; the blocks held and live go below it.
const SHAPE_HEIGHT: u32 = 640;
const SPACE_HEIGHT: u32 = 400;

/// Draws the time line into `path` (SVG or PNG).
pub fn timeline(path: &Path, timeline: &Timeline) -> Result<(), String> {
    if timeline.samples.is_empty() {
        return Err(format!(
            "{}: no checkpoint was written, so there is nothing to plot (run more --ops)",
            path.display()
        ));
    }
    let size = (1200, SHAPE_HEIGHT + SPACE_HEIGHT);
    picture(
        path,
        size,
        |root| draw_timeline(root, timeline),
        |root| draw_timeline(root, timeline),
    )
}

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    timeline: &Timeline,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (shape, space) = root.split_vertically(SHAPE_HEIGHT);
    draw_shape(&shape, timeline)?;
    draw_space(&space, timeline)
}

/// Free blocks, the largest free extent and the fragmentation score.
fn draw_shape<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    timeline: &Timeline,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (_, height) = root.dim_in_pixel();
    // The legend gets a row of its own under the chart: inside, it would
    // hide the lines wherever it went.
    let (chart_area, legend_row) = root.split_vertically(height.saturating_sub(36));
    let samples = &timeline.samples;
    let last_step = samples.last().map_or(1, |s| s.step).max(1);
    // Blocks on a log scale: the largest extent can be thousands of times
    // smaller than the free space and would lie flat on a linear axis. The
    // axis starts a decade under the smallest value, so the lines keep to the
    // upper part and the score (right axis, mostly low) to the lower.
    let top = (timeline.blocks as f64 * 1.5).max(2.0);
    let bottom = log_axis_bottom(samples);
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(&timeline.title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .right_y_label_area_size(80)
        .build_cartesian_2d(0u64..last_step, (bottom..top).log_scale())
        .map_err(e)?
        .set_secondary_coord(0u64..last_step, 0f64..1.0);
    chart
        .configure_mesh()
        .x_desc("operations (simulated time)")
        .y_desc("blocks (log scale)")
        .y_labels(8)
        .x_label_formatter(&|v| count(*v))
        .y_label_formatter(&|v| count(v.round() as u64))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(e)?;
    chart
        .configure_secondary_axes()
        .y_desc("fragmentation score (0 = one extent, 1 = dust)")
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(e)?;

    // Crashes as ticks along the top edge: a run may have hundreds.
    if !timeline.crashes.is_empty() {
        let crash_style = BLACK.mix(0.45).stroke_width(1);
        chart
            .draw_series(
                timeline.crashes.iter().map(|&step| {
                    PathElement::new(vec![(step, top / 1.6), (step, top)], crash_style)
                }),
            )
            .map_err(e)?;
    }
    let blocks_line = |value: fn(&Sample) -> u64, colour: RGBColor, width: u32| {
        LineSeries::new(
            samples
                .iter()
                .map(move |s| (s.step, (value(s) as f64).max(bottom))),
            colour.stroke_width(width),
        )
    };
    chart
        .draw_series(blocks_line(|s| s.free, FREE_COLOUR, 4))
        .map_err(e)?;
    chart
        .draw_series(blocks_line(|s| s.largest, LARGEST_COLOUR, 2))
        .map_err(e)?;
    chart
        .draw_secondary_series(LineSeries::new(
            samples.iter().map(|s| (s.step, s.fragmentation)),
            SCORE_COLOUR.stroke_width(2),
        ))
        .map_err(e)?;

    legend(&legend_row, &shape_legend(timeline))
}

/// The legend of the shape plot: its three lines, and the crash ticks if
/// there are any.
fn shape_legend(timeline: &Timeline) -> Vec<(RGBColor, u32, String)> {
    let mut items = vec![
        (FREE_COLOUR, 4, "free blocks (left axis)".to_string()),
        (
            LARGEST_COLOUR,
            2,
            "largest free extent, blocks (left axis)".to_string(),
        ),
        (
            SCORE_COLOUR,
            2,
            "fragmentation score (right axis)".to_string(),
        ),
    ];
    if !timeline.crashes.is_empty() {
        items.push((
            RGBColor(140, 140, 140),
            1,
            "crash and restart (ticks at the top)".to_string(),
        ));
    }
    items
}

/// The bottom of the log axis of blocks: a decade under the smallest value
/// drawn, so that the lines keep to the upper part of the chart.
fn log_axis_bottom(samples: &[Sample]) -> f64 {
    let smallest = samples
        .iter()
        .flat_map(|s| [s.free, s.largest])
        .filter(|&v| v > 0)
        .min()
        .unwrap_or(1) as f64;
    (smallest / 10.0).max(0.8)
}

/// The legend `items` (colour, line width, text) in a row.
fn legend<DB: DrawingBackend>(
    legend_row: &DrawingArea<DB, Shift>,
    items: &[(RGBColor, u32, String)],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let mut x = 100;
    for (colour, width, text) in items {
        let (colour, width, text) = (*colour, *width, text.as_str());
        legend_row
            .draw(&PathElement::new(
                vec![(x, 14), (x + 24, 14)],
                colour.stroke_width(width),
            ))
            .map_err(e)?;
        let style: TextStyle = (FAMILY, 14).into();
        let (text_width, _) = legend_row.estimate_text_size(text, &style).map_err(e)?;
        legend_row
            .draw(&Text::new(text, (x + 30, 6), style))
            .map_err(e)?;
        x += 30 + text_width as i32 + 30;
    }
    Ok(())
}

/// Blocks held by the set (acquired, released not free yet) and live
/// (what the engine references), the most of each over every checkpoint
/// interval, for this run and the other mode's.
fn draw_space<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    timeline: &Timeline,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (_, height) = root.dim_in_pixel();
    let (chart_area, legend_row) = root.split_vertically(height.saturating_sub(36));
    let other = timeline.other.as_ref().map_or(&[][..], |o| &o.samples[..]);
    let all = || timeline.samples.iter().chain(other);
    let last_step = all().map(|s| s.step).max().unwrap_or(1).max(1);
    let top = (all().map(|s| s.held.max(s.live)).max().unwrap_or(1) as f64 * 1.1).max(1.0);
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(
            "blocks held and live, the most in each checkpoint interval",
            (FAMILY, 18),
        )
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .right_y_label_area_size(80)
        .build_cartesian_2d(0u64..last_step, 0f64..top)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("operations (simulated time)")
        .y_desc("blocks")
        .y_labels(6)
        .x_label_formatter(&|v| count(*v))
        .y_label_formatter(&|v| count(v.round() as u64))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(e)?;
    let line = |samples: &[Sample], value: fn(&Sample) -> u64, colour: RGBColor, width| {
        LineSeries::new(
            samples
                .iter()
                .map(move |s| (s.step, value(s) as f64))
                .collect::<Vec<_>>(),
            colour.stroke_width(width),
        )
    };
    let mut items = Vec::new();
    if let Some(other) = &timeline.other {
        chart
            .draw_series(line(
                other.samples.as_slice(),
                |s| s.held,
                OTHER_HELD_COLOUR,
                2,
            ))
            .map_err(e)?;
        items.push((OTHER_HELD_COLOUR, 2, format!("held, {}", other.mode)));
    }
    chart
        .draw_series(line(&timeline.samples, |s| s.held, HELD_COLOUR, 2))
        .map_err(e)?;
    chart
        .draw_series(line(&timeline.samples, |s| s.live, LIVE_COLOUR, 1))
        .map_err(e)?;
    items.push((HELD_COLOUR, 2, format!("held, {}", timeline.mode)));
    items.push((
        LIVE_COLOUR,
        1,
        "live (what the engine references)".to_string(),
    ));
    legend(&legend_row, &items)
}

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count in the largest binary unit that keeps it at 1 or more:
/// `4 KiB`, `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_bytes_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(134_217_728), "134,217,728");
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(4096), "4 KiB");
        assert_eq!(bytes(1536 << 20), "1.5 GiB");
        assert_eq!(bytes(u64::MAX), "16 EiB");
    }

    #[test]
    fn map_layout_is_wider_than_tall() {
        let map = |shards: usize| Map {
            title: String::new(),
            blocks: shards as u64 * SHARD,
            block_size: 4096,
            shard_free: vec![0; shards],
            shard_released: vec![0; shards],
        };
        assert_eq!(map(1).columns(), 2);
        assert_eq!(map(16).columns(), 8);
        assert_eq!(map(32768).columns(), 256);
        assert_eq!(map(1 << 20).columns(), 256);
    }

    #[test]
    fn a_font_file_is_read_up_to_its_bound() {
        assert_eq!(read_font(Path::new("/nonexistent/font.ttf")), None);
        if Path::new("/dev/zero").exists() {
            // Endless: refused after FONT_BYTES_MAX + 1 bytes.
            assert_eq!(read_font(Path::new("/dev/zero")), None);
        }
    }

    #[test]
    fn a_picture_path_is_checked_before_drawing() {
        assert!(check_path(Path::new("a.svg")).is_ok());
        assert!(check_path(&std::env::temp_dir().join("a.png")).is_ok());
        let err = check_path(Path::new("a.gif")).unwrap_err();
        assert!(err.contains(".svg or .png"), "{err}");
        let err = check_path(Path::new("/nonexistent/dir/a.svg")).unwrap_err();
        assert!(err.contains("no directory /nonexistent/dir"), "{err}");
    }

    #[test]
    fn pictures_need_a_known_extension() {
        assert!(format_of(Path::new("a.svg")).is_ok());
        assert!(format_of(Path::new("a.PNG")).is_ok());
        let err = format_of(Path::new("a.jpg")).err().unwrap();
        assert!(
            err.contains("a.jpg") && err.contains(".svg or .png"),
            "{err}"
        );
    }
}
