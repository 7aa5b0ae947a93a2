//! RFC 5322 §3.3 date-time in UTC, without a calendar crate: the civil-from-days algorithm
//! (Howard Hinnant's) is a few lines and exact for every date after 1970.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sat, 28 Nov 2026 21:31:58 +0000` for a Unix time.
pub fn rfc5322_date(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The calendar day of an RFC 5322 Date field in the field's own zone, as the Unix time of
/// that day's midnight UTC. IMAP's SENTBEFORE, SENTON and SENTSINCE compare that day
/// "disregarding time and timezone" (RFC 3501 §6.4.4): `24 Mar 2007 23:00 +0200` is on the
/// 24th, though it is the 24th at 21:00 in UTC.
pub fn sent_day(date_field: &str) -> Option<i64> {
    let sent = mail_parser::DateTime::parse_rfc822(date_field.trim())?;
    let midnight = mail_parser::DateTime {
        hour: 0,
        minute: 0,
        second: 0,
        tz_before_gmt: false,
        tz_hour: 0,
        tz_minute: 0,
        ..sent
    };
    midnight.is_valid().then(|| midnight.to_timestamp())
}

/// (year, month 1-12, day 1-31) of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sent_day_is_the_fields_own_calendar_day() {
        let day = |s: &str| sent_day(s).map(rfc5322_date);
        assert_eq!(
            day("Sat, 24 Mar 2007 23:00:00 +0200").as_deref(),
            Some("Sat, 24 Mar 2007 00:00:00 +0000")
        );
        assert_eq!(
            day(" Sun, 25 Mar 2007 00:00:00 +0200").as_deref(),
            Some("Sun, 25 Mar 2007 00:00:00 +0000")
        );
        assert_eq!(
            day("Sat, 24 Mar 2007 20:00:00 -0500").as_deref(),
            Some("Sat, 24 Mar 2007 00:00:00 +0000")
        );
        assert_eq!(sent_day("not a date"), None);
    }

    #[test]
    fn known_dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_901_518),
            "Sat, 28 Nov 2026 21:31:58 +0000"
        );
    }
}
