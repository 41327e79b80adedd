//! The progress bar of long reads and applies (`backend::Progress`), drawn with indicatif on
//! stderr: done/total, rate and time left. `main` hands it in only when stderr is a terminal,
//! so a CI log or a pipe never sees it, and `-q` leaves it out. It draws nothing else and
//! decides nothing.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::backend::{Progress, ProgressSink};

/// Work shorter than this many units gets no bar: it would only flicker.
const MIN_TOTAL: u64 = 20;

/// One bar at a time, replaced by the next stage.
#[derive(Default)]
pub struct Bar {
    current: Mutex<Option<ProgressBar>>,
}

impl Bar {
    /// A `Progress` drawing on stderr.
    pub fn on_stderr() -> Progress {
        Progress::new(Bar::default())
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        // A panic while drawing leaves nothing that matters half-done.
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ProgressSink for Bar {
    fn start(&self, label: &str, total: u64) {
        let mut current = self.current();
        if let Some(old) = current.take() {
            old.finish_and_clear();
        }
        if total < MIN_TOTAL {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({rate}, {eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                )
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        *current = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.current().as_ref() {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.current().take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_counts_and_clears_and_short_work_gets_none() {
        let bar = Bar::default();
        bar.start("short", MIN_TOTAL - 1);
        assert!(bar.current().is_none());
        bar.start("Applying", 100);
        bar.advance(30);
        assert_eq!(bar.current().as_ref().map(ProgressBar::position), Some(30));
        bar.finish();
        assert!(bar.current().is_none());
    }
}
