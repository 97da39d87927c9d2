//! Time buckets in the project's time zone (DST-aware): the boundaries of a range's
//! minutes, hours, days, weeks (from Monday), months or quarters, as UTC milliseconds. The
//! plans find an event's bucket by a binary search over them ([`crate::functions::Bucket`]).

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{ToSpan, Zoned};

use crate::QueryError;
use crate::model::{DateRange, TimeUnit};

/// A resolved date range and its buckets.
#[derive(Debug, Clone)]
pub struct Buckets {
    /// Start of each bucket (UTC ms); the last bucket ends at `to_ms`.
    pub starts: Vec<i64>,
    /// The label of each bucket: its local start, `YYYY-MM-DD` (or with the time for units
    /// under a day).
    pub labels: Vec<String>,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The most buckets one answer may hold.
pub const MAX_BUCKETS: usize = 10_000;

/// The UTC millisecond where the local day `date` starts in `zone`.
pub fn day_start(date: Date, zone: &TimeZone) -> Result<i64, QueryError> {
    date.to_zoned(zone.clone())
        .map(|zoned| zoned.timestamp().as_millisecond())
        .map_err(|_| QueryError::invalid(format!("{date} is out of range")))
}

/// The range's first and last instant: from the start of `from_date` to the start of the day
/// after `to_date`.
pub fn resolve(range: &DateRange, zone: &TimeZone) -> Result<(i64, i64), QueryError> {
    if range.to_date < range.from_date {
        return Err(QueryError::invalid("to_date is before from_date"));
    }
    let after = range.to_date.tomorrow().map_err(|_| QueryError::invalid("to_date is out of range"))?;
    Ok((day_start(range.from_date, zone)?, day_start(after, zone)?))
}

fn floor(zoned: &Zoned, unit: TimeUnit) -> Result<Zoned, jiff::Error> {
    let date = zoned.date();
    let start_of = |date: Date| date.to_zoned(zoned.time_zone().clone());
    match unit {
        TimeUnit::Minute => zoned.with().second(0).subsec_nanosecond(0).build(),
        TimeUnit::Hour => zoned.with().minute(0).second(0).subsec_nanosecond(0).build(),
        TimeUnit::Day => start_of(date),
        TimeUnit::Week => {
            let back = i64::from(date.weekday().since(Weekday::Monday));
            start_of(date.checked_sub(back.days())?)
        }
        TimeUnit::Month => start_of(date.first_of_month()),
        TimeUnit::Quarter => {
            let month = (date.month() - 1) / 3 * 3 + 1;
            start_of(Date::new(date.year(), month, 1)?)
        }
    }
}

fn step(zoned: &Zoned, unit: TimeUnit) -> Result<Zoned, jiff::Error> {
    match unit {
        // Minutes and hours are elapsed time (a DST change makes one local hour repeat).
        TimeUnit::Minute => zoned.checked_add(1.minute()),
        TimeUnit::Hour => zoned.checked_add(1.hour()),
        TimeUnit::Day => zoned.date().tomorrow()?.to_zoned(zoned.time_zone().clone()),
        TimeUnit::Week => zoned.date().checked_add(7.days())?.to_zoned(zoned.time_zone().clone()),
        TimeUnit::Month => zoned.date().checked_add(1.month())?.to_zoned(zoned.time_zone().clone()),
        TimeUnit::Quarter => zoned.date().checked_add(3.months())?.to_zoned(zoned.time_zone().clone()),
    }
}

/// The buckets of `unit` that cover the range. The first bucket may start before the range
/// (a week from Monday), and is then counted from the range's start only.
pub fn buckets(range: &DateRange, unit: TimeUnit, zone: &TimeZone) -> Result<Buckets, QueryError> {
    let (from_ms, to_ms) = resolve(range, zone)?;
    let out_of_range = |_| QueryError::invalid("the date range is out of range");
    let start = jiff::Timestamp::from_millisecond(from_ms).map_err(out_of_range)?.to_zoned(zone.clone());
    let mut current = floor(&start, unit).map_err(out_of_range)?;
    let mut starts = Vec::new();
    let mut labels = Vec::new();
    while current.timestamp().as_millisecond() < to_ms {
        if starts.len() >= MAX_BUCKETS {
            return Err(QueryError::invalid(format!(
                "the range holds more than {MAX_BUCKETS} buckets of this unit; choose a larger unit or a shorter range"
            )));
        }
        starts.push(current.timestamp().as_millisecond().max(from_ms));
        labels.push(label(&current, unit));
        current = step(&current, unit).map_err(out_of_range)?;
    }
    Ok(Buckets { starts, labels, from_ms, to_ms })
}

fn label(zoned: &Zoned, unit: TimeUnit) -> String {
    match unit {
        TimeUnit::Minute | TimeUnit::Hour => zoned.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        _ => zoned.date().to_string(),
    }
}

impl Buckets {
    /// The bucket holding `time_ms`, when it is in the range.
    pub fn index(&self, time_ms: i64) -> Option<usize> {
        if time_ms < self.from_ms || time_ms >= self.to_ms {
            return None;
        }
        Some(self.starts.partition_point(|start| *start <= time_ms).saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: &str, to: &str) -> DateRange {
        DateRange { from_date: from.parse().unwrap(), to_date: to.parse().unwrap() }
    }

    #[test]
    fn days_follow_the_zone_across_a_dst_change() {
        let zone = TimeZone::get("Europe/Paris").unwrap();
        let days = buckets(&range("2026-03-28", "2026-03-30"), TimeUnit::Day, &zone).unwrap();
        assert_eq!(days.labels, ["2026-03-28", "2026-03-29", "2026-03-30"]);
        // 29 March 2026 has 23 hours in Paris.
        assert_eq!(days.starts[2] - days.starts[1], 23 * 3_600_000);
        assert_eq!(days.to_ms - days.starts[2], 24 * 3_600_000);
        assert_eq!(days.index(days.starts[1] + 1), Some(1));
        assert_eq!(days.index(days.to_ms), None);
    }

    #[test]
    fn weeks_start_on_monday_and_quarters_on_their_month() {
        let weeks = buckets(&range("2026-12-02", "2026-12-15"), TimeUnit::Week, &TimeZone::UTC).unwrap();
        assert_eq!(weeks.labels, ["2026-11-30", "2026-12-07", "2026-12-14"]);
        assert_eq!(weeks.starts[0], weeks.from_ms, "the first week counts from the range's start");
        let quarters = buckets(&range("2026-02-10", "2026-07-01"), TimeUnit::Quarter, &TimeZone::UTC).unwrap();
        assert_eq!(quarters.labels, ["2026-01-01", "2026-04-01", "2026-07-01"]);
    }

    #[test]
    fn too_many_buckets_is_refused() {
        let error = buckets(&range("2020-01-01", "2026-01-01"), TimeUnit::Minute, &TimeZone::UTC).unwrap_err();
        assert!(error.to_string().contains("larger unit"), "{error}");
    }
}
