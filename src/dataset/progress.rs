//! Throttled progress of one table: rows, rate, ETA.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::ImportEvent;

/// Least time between two progress events of a table.
pub(crate) const EVERY: Duration = Duration::from_millis(100);

pub(crate) struct Progress {
    events: UnboundedSender<ImportEvent>,
    index: usize,
    estimated: Option<u64>,
    started: Instant,
    /// When the last event went out (`None`: none yet, so the first rows
    /// are shown at once, however fast the table is).
    last: Option<Instant>,
}

impl Progress {
    pub(crate) fn new(
        events: UnboundedSender<ImportEvent>,
        index: usize,
        estimated: Option<u64>,
    ) -> Self {
        let now = Instant::now();
        Progress {
            events,
            index,
            estimated,
            started: now,
            last: None,
        }
    }

    /// Sends a progress event: the first at once, then when the last one is
    /// at least [`EVERY`] old.
    pub(crate) fn tick(&mut self, rows: u64) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < EVERY)
        {
            return;
        }
        self.last = Some(now);
        let (rows_per_sec, eta) =
            rate_and_eta(rows, now.duration_since(self.started), self.estimated);
        // A closed receiver (UI gone) must not stop the import.
        let _ = self.events.send(ImportEvent::Progress {
            index: self.index,
            rows,
            estimated_rows: self.estimated,
            rows_per_sec,
            eta,
        });
    }
}

/// Average rate since the table started, and the time left at that rate
/// when an estimate is known and not yet passed.
pub(crate) fn rate_and_eta(
    rows: u64,
    elapsed: Duration,
    estimated: Option<u64>,
) -> (f64, Option<Duration>) {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { rows as f64 / secs } else { 0.0 };
    let eta = match estimated {
        Some(est) if est >= rows && rate > 0.0 => {
            Some(Duration::from_secs_f64((est - rows) as f64 / rate))
        }
        _ => None,
    };
    (rate, eta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_tick_is_sent_at_once_and_the_next_ones_throttled() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut p = Progress::new(tx, 0, None);
        p.tick(1);
        p.tick(2);
        p.tick(3);
        let mut rows = Vec::new();
        while let Ok(ImportEvent::Progress { rows: r, .. }) = rx.try_recv() {
            rows.push(r);
        }
        assert_eq!(rows, [1], "one event, the first, within {EVERY:?}");
    }

    #[test]
    fn eta_from_average_rate() {
        let (rate, eta) = rate_and_eta(1000, Duration::from_secs(2), Some(3000));
        assert_eq!(rate, 500.0);
        assert_eq!(eta, Some(Duration::from_secs(4)));
        // Past the estimate: no ETA rather than a negative one.
        assert_eq!(rate_and_eta(5000, Duration::from_secs(1), Some(10)).1, None);
        assert_eq!(rate_and_eta(0, Duration::ZERO, Some(10)), (0.0, None));
    }
}
