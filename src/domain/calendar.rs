//! Working days: Saturdays and Sundays off, plus Vietnamese public holidays
//! and the government's yearly swaps (a weekday off in exchange for a
//! Saturday worked), configured per year.
//!
//! Deadlines (hạn xử lý) are counted in working days on civil dates in
//! Asia/Ho_Chi_Minh; converting an instant to that date is the caller's job.
//!
//! Public holidays (Labour Code 2019 art. 112): 1 January; Tết (lunar new
//! year, 5 days, placed by the Prime Minister); Hùng Kings' day (10th day of
//! the 3rd lunar month); 30 April; 1 May; National Day 2 September plus one
//! adjacent day. A holiday falling on a weekend gives a compensatory day off
//! on the next working day. The lunar dates and the swaps change every year
//! and are decided by the government, so they are data, not rules:
//! [`WorkingCalendar::vietnam`] has 2025 and 2026 built in, and deployments
//! add or correct years with [`WorkingCalendar::from_json`], which is the
//! configuration path.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::{Date, Weekday, date};
use serde::Deserialize;

/// A calendar configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar: not valid JSON for a calendar: {0}")]
    Json(String),
    #[error("calendar: year {year}: {rule}")]
    Year { year: String, rule: String },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct YearRules {
    days_off: BTreeSet<Date>,
    working_days: BTreeSet<Date>,
}

impl YearRules {
    /// What this year's lists say about `d`, if anything.
    fn verdict(&self, d: Date) -> Option<bool> {
        if self.working_days.contains(&d) {
            Some(true)
        } else if self.days_off.contains(&d) {
            Some(false)
        } else {
            None
        }
    }
}

/// Working days: weekends off, and per year a list of days off (holidays and
/// compensatory days) and of extra working days (a Saturday worked in
/// exchange for a weekday off).
///
/// A date is looked up in its own year's lists first, then in the adjacent
/// years', so an announcement filed under one year may move a day at the edge
/// of the next (e.g. a make-up Saturday in late December for a New Year swap).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    years: BTreeMap<i16, YearRules>,
}

impl WorkingCalendar {
    /// Vietnam's national calendar for public servants (cán bộ, công chức,
    /// viên chức), 2025 and 2026, as announced by the government.
    ///
    /// 2025 (Notice 6150/TB-BLĐTBXH implementing Official Letter
    /// 8726/VPCP-KGVX, 2024):
    /// - 1 Jan (Wed).
    /// - Tết Ất Tỵ: off Sat 25 Jan – Sun 2 Feb, i.e. Mon 27 – Fri 31 Jan.
    ///   No make-up day is encoded: as far as known none was required.
    /// - Hùng Kings: Mon 7 Apr.
    /// - 30 Apr (Wed), 1 May (Thu), and Fri 2 May swapped with Saturday
    ///   26 Apr (worked).
    /// - National Day: Mon 1 and Tue 2 Sep (off 30 Aug – 2 Sep).
    ///
    /// 2026:
    /// - New Year: Thu 1 Jan and Fri 2 Jan, the latter swapped with Saturday
    ///   10 Jan (worked) (Official Letter 12729/VPCP-KGVX of 25 Dec 2025, as
    ///   reported in the press).
    /// - Tết Bính Ngọ (Lunar New Year's day Tue 17 Feb): off Sat 14 Feb – Sun
    ///   22 Feb, i.e. Mon 16 – Fri 20 Feb.
    /// - Hùng Kings: Sun 26 Apr, compensatory Mon 27 Apr.
    /// - 30 Apr (Thu), 1 May (Fri); no swap.
    /// - National Day: off Sat 29 Aug – Wed 2 Sep: Tue 1 Sep is the adjacent
    ///   holiday and Mon 31 Aug is swapped with Saturday 22 Aug (worked).
    ///
    /// Uncertainty, honestly stated: these dates were transcribed from press
    /// reports of the announcements, not from the official texts. The least
    /// certain are the absence of any make-up Saturday for Tết 2025, the
    /// 2 Jan 2026 / 10 Jan 2026 swap, and the 31 Aug 2026 / 22 Aug 2026 swap.
    /// Decisions made later (e.g. an extra holiday such as a Vietnamese
    /// Culture Day on 24 Nov, which has been proposed) are not included.
    /// Deployments must check them and override a year with
    /// [`WorkingCalendar::from_json`] or [`WorkingCalendar::with_year`].
    pub fn vietnam() -> Self {
        Self::empty()
            .with_year(
                2025,
                [
                    date(2025, 1, 1),
                    date(2025, 1, 27),
                    date(2025, 1, 28),
                    date(2025, 1, 29),
                    date(2025, 1, 30),
                    date(2025, 1, 31),
                    date(2025, 4, 7),
                    date(2025, 4, 30),
                    date(2025, 5, 1),
                    date(2025, 5, 2),
                    date(2025, 9, 1),
                    date(2025, 9, 2),
                ],
                [date(2025, 4, 26)],
            )
            .with_year(
                2026,
                [
                    date(2026, 1, 1),
                    date(2026, 1, 2),
                    date(2026, 2, 16),
                    date(2026, 2, 17),
                    date(2026, 2, 18),
                    date(2026, 2, 19),
                    date(2026, 2, 20),
                    date(2026, 4, 27),
                    date(2026, 4, 30),
                    date(2026, 5, 1),
                    date(2026, 8, 31),
                    date(2026, 9, 1),
                    date(2026, 9, 2),
                ],
                [date(2026, 1, 10), date(2026, 8, 22)],
            )
    }

    /// Weekends only: no year configured.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Sets `year`'s days off and extra working days, replacing whatever was
    /// configured for that year. If a date appears in both lists, it is a
    /// working day.
    pub fn with_year(
        mut self,
        year: i16,
        days_off: impl IntoIterator<Item = Date>,
        extra_working_days: impl IntoIterator<Item = Date>,
    ) -> Self {
        self.years.insert(
            year,
            YearRules {
                days_off: days_off.into_iter().collect(),
                working_days: extra_working_days.into_iter().collect(),
            },
        );
        self
    }

    /// Reads a configuration and applies it over [`WorkingCalendar::vietnam`];
    /// each year given replaces that year entirely:
    ///
    /// ```json
    /// {"years": {"2027": {"days_off": ["2027-01-01"], "working_days": []}}}
    /// ```
    ///
    /// Both lists may be omitted (empty). Refused: unknown keys (catches
    /// typos), a year key that is not a year, a malformed date, a date more
    /// than one year away from its key, a date in both lists, and an extra
    /// working day that is not a Saturday or Sunday (it would change nothing,
    /// so it is most likely a typo).
    pub fn from_json(text: &str) -> Result<Self, CalendarError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            years: BTreeMap<String, YearFile>,
        }

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct YearFile {
            #[serde(default)]
            days_off: Vec<Date>,
            #[serde(default)]
            working_days: Vec<Date>,
        }

        let file: File =
            serde_json::from_str(text).map_err(|e| CalendarError::Json(e.to_string()))?;
        let mut calendar = Self::vietnam();
        for (key, rules) in file.years {
            let bad = |rule: String| CalendarError::Year {
                year: key.clone(),
                rule,
            };
            let year: i16 = key
                .trim()
                .parse()
                .ok()
                .filter(|y| (1..=9999).contains(y))
                .ok_or_else(|| bad("not a year (expected e.g. \"2027\")".to_owned()))?;
            for d in rules.days_off.iter().chain(&rules.working_days) {
                if (i32::from(d.year()) - i32::from(year)).abs() > 1 {
                    return Err(bad(format!("{d} is not in or next to {year}")));
                }
            }
            for d in &rules.working_days {
                if rules.days_off.contains(d) {
                    return Err(bad(format!("{d} is both a day off and a working day")));
                }
                if !is_weekend(*d) {
                    return Err(bad(format!(
                        "working day {d} is not a Saturday or Sunday, so listing it changes nothing"
                    )));
                }
            }
            calendar = calendar.with_year(year, rules.days_off, rules.working_days);
        }
        Ok(calendar)
    }

    /// Whether holidays are configured for `year`. Without them only weekends
    /// are days off, so callers may want to warn.
    pub fn has_year(&self, year: i16) -> bool {
        self.years.contains_key(&year)
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        let y = d.year();
        [Some(y), y.checked_sub(1), y.checked_add(1)]
            .into_iter()
            .flatten()
            .filter_map(|year| self.years.get(&year))
            .find_map(|rules| rules.verdict(d))
            .unwrap_or_else(|| !is_weekend(d))
    }

    /// `d` if it is a working day, else the next working day. Saturates at
    /// the last date jiff represents.
    pub fn same_or_next_working_day(&self, d: Date) -> Date {
        let mut day = d;
        while !self.is_working_day(day) {
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        day
    }

    /// The first working day strictly after `d`. Saturates at the last date
    /// jiff represents.
    pub fn next_working_day(&self, d: Date) -> Date {
        match d.tomorrow() {
            Ok(next) => self.same_or_next_working_day(next),
            Err(_) => d,
        }
    }

    /// The `n`th working day after `d` (`d` itself does not count);
    /// `n == 0` gives [`Self::same_or_next_working_day`]. A deadline of
    /// "3 working days" from a document received on Friday is therefore
    /// Wednesday, weekends and holidays skipped.
    pub fn add_working_days(&self, d: Date, n: u32) -> Date {
        if n == 0 {
            return self.same_or_next_working_day(d);
        }
        let mut day = d;
        for _ in 0..n {
            let next = self.next_working_day(day);
            if next == day {
                break; // saturated at the end of time
            }
            day = next;
        }
        day
    }

    /// The number of working days in `(from, to]`; negative, with the same
    /// magnitude as `working_days_between(to, from)`, when `to < from`.
    /// `working_days_between(d, add_working_days(d, n)) == n` for n ≥ 1.
    pub fn working_days_between(&self, from: Date, to: Date) -> i64 {
        if to < from {
            return -self.working_days_between(to, from);
        }
        let days = i64::from(days_from_epoch(to) - days_from_epoch(from));
        // Weekdays in (from, to]: whole weeks, then the remainder day by day.
        let mut count = days / 7 * 5;
        let mut day = from;
        for _ in 0..days % 7 {
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
            if !is_weekend(day) {
                count += 1;
            }
        }
        // Correct for every configured date in range whose status differs
        // from the weekday rule.
        let overrides: BTreeSet<Date> = self
            .years
            .values()
            .flat_map(|r| r.days_off.iter().chain(&r.working_days))
            .filter(|d| from < **d && **d <= to)
            .copied()
            .collect();
        for d in overrides {
            match (self.is_working_day(d), is_weekend(d)) {
                (true, true) => count += 1,
                (false, false) => count -= 1,
                _ => {}
            }
        }
        count
    }
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// Days since 1970-01-01 (negative before). Every civil date fits in i32.
fn days_from_epoch(d: Date) -> i32 {
    // Howard Hinnant's days_from_civil.
    let (y, m, day) = (
        i32::from(d.year()),
        i32::from(d.month()),
        i32::from(d.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekends_are_days_off_and_weekdays_work() {
        let cal = WorkingCalendar::empty();
        assert!(cal.is_working_day(date(2027, 3, 5))); // Friday
        assert!(!cal.is_working_day(date(2027, 3, 6))); // Saturday
        assert!(!cal.is_working_day(date(2027, 3, 7))); // Sunday
        assert!(cal.is_working_day(date(2027, 3, 8))); // Monday
        assert!(!cal.has_year(2025));
    }

    #[test]
    fn built_in_holidays_are_days_off() {
        let cal = WorkingCalendar::vietnam();
        assert!(cal.has_year(2025) && cal.has_year(2026) && !cal.has_year(2027));
        for d in [
            date(2025, 1, 1),
            date(2025, 1, 29),
            date(2025, 4, 7),
            date(2025, 4, 30),
            date(2025, 5, 2),
            date(2025, 9, 2),
            date(2026, 1, 2),
            date(2026, 2, 17),
            date(2026, 4, 27),
            date(2026, 8, 31),
            date(2026, 9, 1),
        ] {
            assert!(!cal.is_working_day(d), "{d} should be a day off");
        }
        // Ordinary weekdays next to holidays still work.
        assert!(cal.is_working_day(date(2026, 2, 23)));
        assert!(cal.is_working_day(date(2026, 9, 3)));
    }

    #[test]
    fn make_up_saturdays_are_working_days() {
        let cal = WorkingCalendar::vietnam();
        assert!(cal.is_working_day(date(2025, 4, 26)));
        assert!(cal.is_working_day(date(2026, 1, 10)));
        assert!(cal.is_working_day(date(2026, 8, 22)));
        assert!(!cal.is_working_day(date(2025, 4, 19))); // an ordinary Saturday
    }

    #[test]
    fn every_built_in_working_day_is_a_weekend_and_days_off_are_weekdays() {
        let cal = WorkingCalendar::vietnam();
        for rules in cal.years.values() {
            assert!(rules.working_days.iter().all(|d| is_weekend(*d)));
            // The built-in lists only hold weekday days off: weekend holidays
            // are represented by their compensatory day.
            assert!(rules.days_off.iter().all(|d| !is_weekend(*d)));
        }
    }

    #[test]
    fn same_or_next_skips_tet_2026() {
        let cal = WorkingCalendar::vietnam();
        // Lunar New Year's day → first working day after the 9-day break.
        assert_eq!(
            cal.same_or_next_working_day(date(2026, 2, 17)),
            date(2026, 2, 23)
        );
        assert_eq!(
            cal.same_or_next_working_day(date(2026, 2, 14)),
            date(2026, 2, 23)
        );
        assert_eq!(
            cal.same_or_next_working_day(date(2026, 2, 13)),
            date(2026, 2, 13)
        );
        assert_eq!(cal.next_working_day(date(2026, 2, 13)), date(2026, 2, 23));
        assert_eq!(cal.next_working_day(date(2026, 2, 23)), date(2026, 2, 24));
    }

    #[test]
    fn add_working_days_across_weekend_and_holiday() {
        let cal = WorkingCalendar::empty();
        // Friday + 1 → Monday.
        assert_eq!(cal.add_working_days(date(2027, 3, 5), 1), date(2027, 3, 8));
        // Saturday + 0 → Monday; Saturday + 1 → Monday too.
        assert_eq!(cal.add_working_days(date(2027, 3, 6), 0), date(2027, 3, 8));
        assert_eq!(cal.add_working_days(date(2027, 3, 6), 1), date(2027, 3, 8));

        let vn = WorkingCalendar::vietnam();
        // Thu 23 Apr 2026 + 3: Fri 24, (weekend, Mon 27 compensatory), Tue 28, Wed 29.
        assert_eq!(vn.add_working_days(date(2026, 4, 23), 3), date(2026, 4, 29));
        // Wed 29 Apr 2026 + 1: Thu 30 Apr, Fri 1 May, weekend → Mon 4 May.
        assert_eq!(vn.add_working_days(date(2026, 4, 29), 1), date(2026, 5, 4));
        // Fri 21 Aug 2026 + 1 is the make-up Saturday 22 Aug.
        assert_eq!(vn.add_working_days(date(2026, 8, 21), 1), date(2026, 8, 22));
        assert_eq!(vn.add_working_days(date(2026, 2, 20), 0), date(2026, 2, 23));
    }

    #[test]
    fn working_days_between_both_directions() {
        let cal = WorkingCalendar::empty();
        // (Fri 5 Mar, Mon 8 Mar] holds only Monday.
        assert_eq!(
            cal.working_days_between(date(2027, 3, 5), date(2027, 3, 8)),
            1
        );
        assert_eq!(
            cal.working_days_between(date(2027, 3, 8), date(2027, 3, 5)),
            -1
        );
        assert_eq!(
            cal.working_days_between(date(2027, 3, 5), date(2027, 3, 5)),
            0
        );
        assert_eq!(
            cal.working_days_between(date(2027, 3, 1), date(2027, 3, 29)),
            20
        );

        let vn = WorkingCalendar::vietnam();
        // Fri 13 Feb → Mon 23 Feb 2026 across Tết: only the Monday.
        assert_eq!(
            vn.working_days_between(date(2026, 2, 13), date(2026, 2, 23)),
            1
        );
        assert_eq!(
            vn.working_days_between(date(2026, 2, 23), date(2026, 2, 13)),
            -1
        );
        // August 2026: 21 weekdays, minus Mon 31 Aug, plus Sat 22 Aug.
        assert_eq!(
            vn.working_days_between(date(2026, 7, 31), date(2026, 8, 31)),
            21
        );
    }

    #[test]
    fn working_days_between_agrees_with_day_by_day_count() {
        let vn = WorkingCalendar::vietnam();
        let start = date(2024, 12, 20);
        let mut day = start;
        let mut expected = 0;
        for _ in 0..800 {
            day = day.tomorrow().expect("in range");
            if vn.is_working_day(day) {
                expected += 1;
            }
            assert_eq!(vn.working_days_between(start, day), expected, "{day}");
        }
        for n in 1..60 {
            let d = vn.add_working_days(start, n);
            assert_eq!(vn.working_days_between(start, d), i64::from(n));
        }
    }

    #[test]
    fn with_year_replaces_that_year() {
        let cal = WorkingCalendar::vietnam().with_year(2026, [date(2026, 3, 2)], []);
        assert!(!cal.is_working_day(date(2026, 3, 2)));
        assert!(cal.is_working_day(date(2026, 2, 17))); // Tết list replaced (a Tuesday)
        assert!(!cal.is_working_day(date(2025, 1, 29))); // 2025 untouched
    }

    #[test]
    fn adjacent_year_entries_apply() {
        // A 2028 announcement moving a make-up day into December 2027.
        let cal =
            WorkingCalendar::empty().with_year(2028, [date(2028, 1, 3)], [date(2027, 12, 25)]);
        assert!(cal.is_working_day(date(2027, 12, 25)));
        assert_eq!(
            cal.working_days_between(date(2027, 12, 24), date(2027, 12, 27)),
            2
        );
    }

    #[test]
    fn from_json_overrides_and_adds_years() {
        let text = r#"{"years": {
            "2027": {"days_off": ["2027-01-01", "2027-02-08"], "working_days": ["2027-02-20"]},
            "2026": {"days_off": ["2026-02-17"]}
        }}"#;
        let cal = WorkingCalendar::from_json(text).expect("valid configuration");
        assert!(cal.has_year(2025) && cal.has_year(2026) && cal.has_year(2027));
        assert!(!cal.is_working_day(date(2027, 1, 1)));
        assert!(!cal.is_working_day(date(2027, 2, 8)));
        assert!(cal.is_working_day(date(2027, 2, 20)));
        // 2026 replaced: 16 Feb works now, 17 Feb does not; 2025 kept.
        assert!(cal.is_working_day(date(2026, 2, 16)));
        assert!(!cal.is_working_day(date(2026, 2, 17)));
        assert!(!cal.is_working_day(date(2025, 1, 29)));
    }

    #[test]
    fn from_json_refuses_bad_input() {
        let err = |text: &str| match WorkingCalendar::from_json(text) {
            Ok(_) => panic!("{text} should be refused"),
            Err(e) => e,
        };
        assert!(matches!(err("{not json"), CalendarError::Json(_)));
        assert!(matches!(err(r#"{"holidays": {}}"#), CalendarError::Json(_)));
        assert!(matches!(
            err(r#"{"years": {"2027": {"days-off": []}}}"#),
            CalendarError::Json(_)
        ));
        let e = err(r#"{"years": {"2027": {"days_off": ["2027-02-30"]}}}"#);
        assert!(matches!(e, CalendarError::Json(_)), "{e}");
        let e = err(r#"{"years": {"next": {"days_off": []}}}"#);
        assert_eq!(
            e.to_string(),
            "calendar: year next: not a year (expected e.g. \"2027\")"
        );
        let e = err(r#"{"years": {"2027": {"days_off": ["2030-01-01"]}}}"#);
        assert!(
            e.to_string()
                .contains("2030-01-01 is not in or next to 2027"),
            "{e}"
        );
        let e = err(
            r#"{"years": {"2027": {"days_off": ["2027-02-20"], "working_days": ["2027-02-20"]}}}"#,
        );
        assert!(
            e.to_string().contains("both a day off and a working day"),
            "{e}"
        );
        let e = err(r#"{"years": {"2027": {"working_days": ["2027-02-22"]}}}"#);
        assert!(e.to_string().contains("not a Saturday or Sunday"), "{e}");
    }

    #[test]
    fn days_from_epoch_matches_known_values() {
        assert_eq!(days_from_epoch(date(1970, 1, 1)), 0);
        assert_eq!(days_from_epoch(date(2000, 3, 1)), 11_017);
        assert_eq!(days_from_epoch(date(1969, 12, 31)), -1);
        assert_eq!(
            days_from_epoch(date(2026, 2, 17)) - days_from_epoch(date(2025, 2, 17)),
            365
        );
    }

    #[test]
    fn saturates_at_the_end_of_time() {
        let cal = WorkingCalendar::empty();
        let last = Date::MAX; // 9999-12-31, a Friday
        assert_eq!(cal.next_working_day(last), last);
        assert_eq!(cal.add_working_days(last, 5), last);
    }
}
