//! Progress for long work: an indicatif bar on a terminal; with `--quiet` or
//! when stderr is not a terminal (CI, logs, pipes), one-line log records every
//! few seconds instead, so logs stay readable and greppable. A study shows a
//! [`Board`]: its overall bar (cells done of total, ETA) above the running
//! cell's own bar, in one indicatif `MultiProgress`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProgressMode {
    /// A bar redrawn in place.
    Bar,
    /// A log line at most every `every`.
    Log { every: Duration },
}

impl ProgressMode {
    /// Bars on an interactive terminal unless `quiet`; log records otherwise.
    pub fn detect(quiet: bool, log_every: Duration) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            ProgressMode::Log { every: log_every }
        } else {
            ProgressMode::Bar
        }
    }
}

/// A counter of done work out of a known total, with a free-form message
/// (e.g. the current loss).
pub struct Progress {
    label: String,
    total: u64,
    pos: u64,
    message: String,
    started: Instant,
    last_log: Option<Instant>,
    mode: ProgressMode,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: u64, mode: ProgressMode) -> Self {
        Self::new_in(None, label, total, mode)
    }

    /// A bar drawn as a line of `multi` (in bar mode).
    pub fn new_in(multi: Option<&MultiProgress>, label: impl Into<String>, total: u64, mode: ProgressMode) -> Self {
        let label = label.into();
        let bar = match mode {
            ProgressMode::Bar => {
                let bar = ProgressBar::new(total);
                let bar = match multi {
                    Some(m) => m.add(bar),
                    None => bar,
                };
                let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
                    .expect("valid template")
                    .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(label.clone());
                Some(bar)
            }
            ProgressMode::Log { .. } => None,
        };
        Self {
            label,
            total,
            pos: 0,
            message: String::new(),
            started: Instant::now(),
            last_log: None,
            mode,
            bar,
        }
    }

    /// Work done so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Records `n` more units done.
    pub fn inc(&mut self, n: u64) {
        self.pos += n;
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.inc(n),
            (None, ProgressMode::Log { every }) => {
                let due = self.last_log.is_none_or(|t| t.elapsed() >= every);
                if due || self.pos >= self.total {
                    self.log_line();
                }
            }
            (None, ProgressMode::Bar) => {}
        }
    }

    /// Sets the message shown after the counter (e.g. `loss=0.0521`).
    pub fn set_message(&mut self, message: impl Into<String>) {
        self.message = message.into();
        if let Some(bar) = &self.bar {
            bar.set_message(self.message.clone());
        }
    }

    /// The one-line record printed in log mode.
    pub fn record(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { self.pos as f64 / elapsed } else { 0.0 };
        let pct = if self.total > 0 {
            100.0 * self.pos as f64 / self.total as f64
        } else {
            100.0
        };
        let mut line = format!(
            "[{}] {}/{} ({pct:.1}%) {rate:.2}/s {elapsed:.1}s",
            self.label, self.pos, self.total
        );
        if !self.message.is_empty() {
            line.push(' ');
            line.push_str(&self.message);
        }
        line
    }

    fn log_line(&mut self) {
        eprintln!("{}", self.record());
        self.last_log = Some(Instant::now());
    }

    /// Ends the bar and removes it from the screen (or prints the final
    /// record): a study's finished cell leaves only the overall bar.
    pub fn finish_and_clear(mut self) {
        match self.bar.take() {
            Some(bar) => bar.finish_and_clear(),
            None => {
                if self.last_log.is_none() || self.pos < self.total {
                    self.log_line();
                }
            }
        }
    }

    /// Ends the bar (or prints the final record).
    pub fn finish(mut self) {
        match self.bar.take() {
            Some(bar) => bar.finish(),
            None => {
                if self.last_log.is_none() || self.pos < self.total {
                    self.log_line();
                }
            }
        }
    }
}

/// A study's progress: an overall bar of cells done out of the total with
/// the ETA the runner estimates, above each running cell's own bar (its
/// training steps, or a spinner for a cell without steps). In log mode, one
/// line per started cell (`[reproduce 3/13] label (state), ETA 2m 10s`) and
/// the cell's own log records.
pub struct Board {
    mode: ProgressMode,
    total: u64,
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
}

impl Board {
    pub fn new(total: u64, mode: ProgressMode) -> Self {
        let (multi, overall) = match mode {
            ProgressMode::Bar => {
                let multi = MultiProgress::new();
                let bar = multi.add(ProgressBar::new(total));
                let style =
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} cells, {elapsed} so far, {msg}")
                        .expect("valid template")
                        .progress_chars("##-");
                bar.set_style(style);
                bar.set_prefix("reproduce");
                (Some(multi), Some(bar))
            }
            ProgressMode::Log { .. } => (None, None),
        };
        Self {
            mode,
            total,
            multi,
            overall,
        }
    }

    /// Cell `index` (0-based) starts; `state` says whether it runs or resumes.
    pub fn start(&self, index: usize, label: &str, state: &str, eta: &str) {
        match &self.overall {
            Some(bar) => bar.set_message(format!("ETA {eta}; now {label} ({state})")),
            None => eprintln!("[reproduce {}/{}] {label} ({state}), ETA {eta}", index + 1, self.total),
        }
    }

    /// A cell (run or reused) is done.
    pub fn done(&self) {
        if let Some(bar) = &self.overall {
            bar.inc(1);
        }
    }

    /// The running cell's own bar of `total` steps.
    pub fn cell(&self, label: impl Into<String>, total: u64) -> Progress {
        Progress::new_in(self.multi.as_ref(), label, total, self.mode)
    }

    /// A spinner for a running cell without steps (none in log mode);
    /// `finish_and_clear` it when the cell ends.
    pub fn spinner(&self, label: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{prefix} {spinner} {elapsed}").expect("valid template"));
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    }

    /// Ends the overall bar.
    pub fn finish(self) {
        if let Some(bar) = self.overall {
            bar.finish_with_message("done");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_mode_logs_records_with_counts_and_message() {
        let mut p = Progress::new(
            "train",
            10,
            ProgressMode::Log {
                every: Duration::from_secs(3600),
            },
        );
        p.inc(4);
        p.set_message("loss=0.5");
        let r = p.record();
        assert!(r.starts_with("[train] 4/10 (40.0%)"), "{r}");
        assert!(r.ends_with("loss=0.5"), "{r}");
        assert_eq!(p.position(), 4);
    }

    #[test]
    fn quiet_flag_always_selects_log_records() {
        assert!(matches!(
            ProgressMode::detect(true, Duration::from_secs(1)),
            ProgressMode::Log { .. }
        ));
    }
}
