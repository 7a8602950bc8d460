//! PNG plots with plotters: the few chart shapes the reports draw (panels
//! of lines with seed bands or points with whiskers, horizontal bars with
//! standard errors, a state map of blocks over training steps, and a sheet
//! of labelled images). Drawing only: what to plot comes from the callers
//! (the report's `figures.rs`, the ranking cells' bar charts), which read
//! the Parquet files; this module imports no other module of the crate.
//!
//! plotters draws into an RGB buffer (its bitmap backend, no encoder) and
//! `image` writes the PNG (temporary name, then renamed). Text is DejaVu
//! Sans, embedded in the binary (`fonts/DejaVuSans.ttf`, from matplotlib
//! 3.11.2's wheel on PyPI, `mpl-data/fonts/ttf/`; licence in
//! `fonts/LICENSE_DEJAVU`: the Bitstream Vera / DejaVu public licence,
//! which allows embedding and redistribution), rasterised by ab_glyph, so
//! no system fonts are read.
//!
//! - `canvas.rs`: the font, the white canvas, PNG encoding, axis ranges and tick labels;
//! - `lines.rs`: panels of lines with bands or points with whiskers;
//! - `bars.rs`: horizontal bar charts with standard errors;
//! - `states.rs`: state maps (blocks over training steps);
//! - `sheet.rs`: sheets of labelled images.

mod bars;
mod canvas;
mod lines;
mod sheet;
mod states;

pub use bars::{bar_chart, bar_height, Bar, BAR_WIDTH, NEGATIVE, POSITIVE};
pub use canvas::{save, PlotError, COLORS};
pub use lines::{panels, Panel, Series, Style, PANEL_SIZE};
pub use sheet::{sheet, sheet_scale, sheet_size, SHEET_LABEL};
pub use states::{state_map, StateMap, STATE_SIZE};
