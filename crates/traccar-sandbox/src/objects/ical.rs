//! The iCalendar check a calendar's `data` passes while Traccar reads it (`Calendar.setData`
//! runs ical4j's `CalendarBuilder`), with ical4j's error texts as real 6.9.1 answered them
//! (`Error at line N:<message>`, observed-objects.md §5 and VERSIONS.md):
//!
//! - the structure: blank lines skipped, then `BEGIN` (case-sensitive) `:` `VCALENDAR` (any
//!   case), properties and nested `BEGIN:X` ... `END:X` components, `END:VCALENDAR`; a wrong
//!   word is `Expected [BEGIN], read [hello]`, a wrong separator `Expected [58], read [59]`
//!   (character codes), a mismatched `END` `Expected [VEVENT], read [VCALENDAR]`, running out
//!   `Unexpected end of file` on the line after the last;
//! - a property line without `:` takes the whole next line as its value (ical4j reads on);
//! - anything after `END:VCALENDAR` but blank lines is `Unexpected end of file`;
//! - date values of `DTSTART`, `DTEND`, `DTSTAMP`, `DUE`, `RECURRENCE-ID`, `CREATED`,
//!   `LAST-MODIFIED` parse as `yyyyMMdd['T'HHmmss['Z']]` with java.time's messages;
//! - `RRULE`'s `FREQ` is one of ical4j's frequencies (ical4j 4.1: `No enum constant
//!   net.fortuna.ical4j.transform.recurrence.Frequency.X`; 4.2, Traccar 6.11+ and real 6.14.4:
//!   `Invalid value X for FREQ`).
//!
//! Before 6.5 Traccar had ical4j 3 (real 5.12): the structure is checked alike, but a date
//! parses with `SimpleDateFormat` (`yyyyMMdd'T'HHmmss`, or `yyyyMMdd` with `VALUE=DATE`;
//! trailing text ignored, fields range-checked) and fails as `Unparseable date: "<value>"`, an
//! unknown frequency names `net.fortuna.ical4j.model.Recur.Frequency`, both without a line.
//!
//! Lines are unfolded first (a line break followed by a space or tab continues the line); line
//! numbers stay physical. Nothing else is validated (ical4j validates more; unmodelled).

/// Where and why ical4j gave up: `line` is `None` for ical4j 3's value errors, which name no
/// line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub line: Option<usize>,
    pub message: String,
}

impl ParseError {
    /// The exception's message: `Error at line N:<message>`, or the bare message.
    pub fn text(&self) -> String {
        match self.line {
            Some(line) => format!("Error at line {line}:{}", self.message),
            None => self.message.clone(),
        }
    }
}

/// One logical (unfolded) line and the physical line it starts on.
struct Line {
    number: usize,
    text: String,
}

/// Splits into logical lines; the second value is the line number just past the end (where
/// "Unexpected end of file" is reported).
fn lines(text: &str) -> (Vec<Line>, usize) {
    let mut physical: Vec<&str> = Vec::new();
    let mut rest = text;
    let mut ends_with_break = false;
    while !rest.is_empty() {
        match rest.find(['\r', '\n']) {
            Some(i) => {
                physical.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
                ends_with_break = true;
            }
            None => {
                physical.push(rest);
                rest = "";
                ends_with_break = false;
            }
        }
    }
    let end = physical.len() + usize::from(ends_with_break || physical.is_empty());
    let mut out: Vec<Line> = Vec::new();
    for (i, p) in physical.into_iter().enumerate() {
        match (p.strip_prefix([' ', '\t']), out.last_mut()) {
            (Some(continued), Some(last)) => last.text.push_str(continued),
            _ => out.push(Line {
                number: i + 1,
                text: p.to_string(),
            }),
        }
    }
    (out, end.max(1))
}

/// The first token of `text` as java's `StreamTokenizer` (ical4j's syntax) reads it: a word
/// runs until `:`, `;`, `=`, `"`, a tab or a control character.
fn word(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| matches!(c, ':' | ';' | '=' | '"' | '\t') || (c as u32) < 0x20)
        .unwrap_or(text.len());
    (&text[..end], &text[end..])
}

/// The token code java reports for what follows a word: the character's code, 10 at the end
/// of the line.
fn code(rest: &str) -> u32 {
    rest.chars().next().map_or(10, |c| c as u32)
}

fn blank(line: &Line) -> bool {
    line.text.chars().all(|c| (c as u32) <= 0x20 && c != '\t')
}

struct Parser {
    lines: Vec<Line>,
    end: usize,
    next: usize,
    /// The ical4j release line (major, minor).
    ical4j: (u32, u32),
}

impl Parser {
    fn error(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: Some(line),
            message: message.into(),
        }
    }

    /// The next non-blank line, or "Unexpected end of file".
    fn take(&mut self) -> Result<(usize, String), ParseError> {
        while let Some(line) = self.lines.get(self.next) {
            self.next += 1;
            if !blank(line) {
                return Ok((line.number, line.text.clone()));
            }
        }
        Err(Self::error(self.end, "Unexpected end of file"))
    }

    /// `BEGIN:<name>` or `END:<name>` split after the keyword was read: the name.
    fn delimited_name(number: usize, rest: &str) -> Result<String, ParseError> {
        let Some(after) = rest.strip_prefix(':') else {
            return Err(Self::error(
                number,
                format!("Expected [58], read [{}]", code(rest)),
            ));
        };
        Ok(word(after).0.to_string())
    }

    /// The body of component `name` (after its BEGIN line), up to and including its END.
    fn component(&mut self, name: &str) -> Result<(), ParseError> {
        loop {
            let (number, text) = self.take()?;
            let (keyword, rest) = word(&text);
            match keyword {
                "BEGIN" => {
                    let inner = Self::delimited_name(number, rest)?;
                    self.component(&inner)?;
                }
                "END" => {
                    let ended = Self::delimited_name(number, rest)?;
                    if !ended.eq_ignore_ascii_case(name) {
                        return Err(Self::error(
                            number,
                            format!("Expected [{name}], read [{ended}]"),
                        ));
                    }
                    return Ok(());
                }
                property => {
                    let (parameters, value) = match rest.find(':') {
                        Some(i) => (rest[..i].to_string(), rest[i + 1..].to_string()),
                        // No ':' on the line: ical4j reads the value from the next line.
                        None => match self.lines.get(self.next) {
                            Some(next) => {
                                self.next += 1;
                                (rest.to_string(), next.text.clone())
                            }
                            None => return Err(Self::error(self.end, "Unexpected end of file")),
                        },
                    };
                    let date_only = parameters
                        .split(';')
                        .any(|p| p.eq_ignore_ascii_case("VALUE=DATE"));
                    if self.ical4j >= (4, 0) {
                        check_value(property, &value, self.ical4j)
                            .map_err(|m| Self::error(number, m))?;
                    } else {
                        check_value_3(property, &value, date_only).map_err(|message| {
                            ParseError {
                                line: None,
                                message,
                            }
                        })?;
                    }
                }
            }
        }
    }
}

/// Checks that `data` parses as an iCalendar file the way that ical4j release line (major,
/// minor) would.
pub(crate) fn check(data: &[u8], ical4j: (u32, u32)) -> Result<(), ParseError> {
    let text = String::from_utf8_lossy(data);
    let (lines, end) = lines(&text);
    let mut parser = Parser {
        lines,
        end,
        next: 0,
        ical4j,
    };
    let (number, first) = parser.take()?;
    let (keyword, rest) = word(&first);
    if keyword != "BEGIN" {
        let read = if keyword.is_empty() { "null" } else { keyword };
        return Err(Parser::error(
            number,
            format!("Expected [BEGIN], read [{read}]"),
        ));
    }
    let name = Parser::delimited_name(number, rest)?;
    if !name.eq_ignore_ascii_case("VCALENDAR") {
        return Err(Parser::error(
            number,
            format!("Expected [VCALENDAR], read [{name}]"),
        ));
    }
    parser.component("VCALENDAR")?;
    match parser.take() {
        // Only blank lines may follow.
        Err(_) => Ok(()),
        Ok(_) => Err(Parser::error(parser.end, "Unexpected end of file")),
    }
}

const DATE_PROPERTIES: [&str; 7] = [
    "DTSTART",
    "DTEND",
    "DTSTAMP",
    "DUE",
    "RECURRENCE-ID",
    "CREATED",
    "LAST-MODIFIED",
];

const FREQUENCIES: [&str; 7] = [
    "SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY",
];

fn check_value(property: &str, value: &str, ical4j: (u32, u32)) -> Result<(), String> {
    let name = property.to_ascii_uppercase();
    if DATE_PROPERTIES.contains(&name.as_str()) {
        return check_date(value);
    }
    if name == "RRULE" {
        for part in value.split(';') {
            if let Some(freq) = part.strip_prefix("FREQ=")
                && !FREQUENCIES.contains(&freq)
            {
                return Err(if ical4j >= (4, 2) {
                    format!("Invalid value {freq} for FREQ")
                } else {
                    format!(
                        "No enum constant net.fortuna.ical4j.transform.recurrence.Frequency.{freq}"
                    )
                });
            }
        }
    }
    Ok(())
}

/// ical4j 3's checks: `SimpleDateFormat` dates and `Recur.Frequency`.
fn check_value_3(property: &str, value: &str, date_only: bool) -> Result<(), String> {
    let name = property.to_ascii_uppercase();
    if DATE_PROPERTIES.contains(&name.as_str()) {
        let bytes = value.as_bytes();
        let digits = |from: usize, n: usize| -> Option<u32> {
            let part = bytes.get(from..from + n)?;
            part.iter()
                .all(u8::is_ascii_digit)
                .then(|| part.iter().fold(0, |acc, b| acc * 10 + u32::from(b - b'0')))
        };
        let date = (digits(0, 4), digits(4, 2), digits(6, 2));
        let time = if date_only {
            Some((0, 0, 0))
        } else if bytes.get(8) == Some(&b'T') {
            match (digits(9, 2), digits(11, 2), digits(13, 2)) {
                (Some(h), Some(m), Some(s)) => Some((h, m, s)),
                _ => None,
            }
        } else {
            None
        };
        let valid = match (date, time) {
            ((Some(y), Some(mo), Some(d)), Some((h, mi, s))) => {
                h < 24
                    && mi < 60
                    && s < 60
                    && chrono::NaiveDate::from_ymd_opt(y as i32, mo, d).is_some()
            }
            _ => false,
        };
        if !valid {
            return Err(format!("Unparseable date: \"{value}\""));
        }
    }
    if name == "RRULE" {
        for part in value.split(';') {
            if let Some(freq) = part.strip_prefix("FREQ=")
                && !FREQUENCIES.contains(&freq)
            {
                return Err(format!(
                    "No enum constant net.fortuna.ical4j.model.Recur.Frequency.{freq}"
                ));
            }
        }
    }
    Ok(())
}

/// `DateTimeFormatter.ofPattern("yyyyMMdd['T'HHmmss['Z']]")`: optional sections roll back
/// when they do not match; then the fields are resolved.
fn check_date(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = bytes.get(from..from + n)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |acc, b| acc * 10 + u32::from(b - b'0')))
    };
    let fail = |index: usize| format!("Text '{value}' could not be parsed at index {index}");
    // `yyyyMMdd` is one run of adjacent values: it fails as a whole, at its start.
    let (Some(year), Some(month), Some(day)) = (digits(0, 4), digits(4, 2), digits(6, 2)) else {
        return Err(fail(0));
    };
    let mut parsed = 8;
    let mut time = None;
    if bytes.get(8) == Some(&b'T')
        && let (Some(h), Some(m), Some(s)) = (digits(9, 2), digits(11, 2), digits(13, 2))
    {
        time = Some((h, m, s));
        parsed = 15;
        if bytes.get(15) == Some(&b'Z') {
            parsed = 16;
        }
    }
    if parsed < bytes.len() {
        return Err(format!(
            "Text '{value}' could not be parsed, unparsed text found at index {parsed}"
        ));
    }
    let invalid = |field: &str, range: &str, v: u32| {
        format!(
            "Text '{value}' could not be parsed: Invalid value for {field} (valid values {range}): {v}"
        )
    };
    if !(1..=12).contains(&month) {
        return Err(invalid("MonthOfYear", "1 - 12", month));
    }
    if !(1..=31).contains(&day) {
        return Err(invalid("DayOfMonth", "1 - 28/31", day));
    }
    if let Some((h, m, s)) = time {
        if h > 23 {
            return Err(invalid("HourOfDay", "0 - 23", h));
        }
        if m > 59 {
            return Err(invalid("MinuteOfHour", "0 - 59", m));
        }
        if s > 59 {
            return Err(invalid("SecondOfMinute", "0 - 59", s));
        }
    }
    if chrono::NaiveDate::from_ymd_opt(year as i32, month, day).is_none() {
        const MONTHS: [&str; 12] = [
            "JANUARY",
            "FEBRUARY",
            "MARCH",
            "APRIL",
            "MAY",
            "JUNE",
            "JULY",
            "AUGUST",
            "SEPTEMBER",
            "OCTOBER",
            "NOVEMBER",
            "DECEMBER",
        ];
        let message = if month == 2 && day == 29 {
            format!("Invalid date 'February 29' as '{year}' is not a leap year")
        } else {
            format!("Invalid date '{} {day}'", MONTHS[month as usize - 1])
        };
        return Err(format!("Text '{value}' could not be parsed: {message}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (usize, String) {
        let e = check(text.as_bytes(), (4, 1)).expect_err("rejected");
        (e.line.expect("a line"), e.message)
    }

    #[test]
    fn accepts_what_real_6_9_1_accepted() {
        for ok in [
            "BEGIN:VCALENDAR\r\nPRODID:-//probe//EN\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@probe\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T080000Z\r\nDTEND:20260101T170000Z\r\nRRULE:FREQ=DAILY\r\nSUMMARY:work hours\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            "BEGIN:vcalendar\r\nEND:vcalendar\r\n",
            "BEGIN:VCALENDAR\r\nX-A:1\r\nEND:VCALENDAR",
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\nX-A:1\r\nEND:VCALENDAR\r\n",
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260101\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;TZID=Europe/Vienna:20260101T080000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        ] {
            for ical4j in [(3, 2), (4, 1), (4, 2)] {
                assert_eq!(check(ok.as_bytes(), ical4j), Ok(()), "{ok:?}");
            }
        }
    }

    #[test]
    fn rejects_as_real_6_9_1_did() {
        let cases: [(&str, usize, &str); 13] = [
            (
                "hello, not a calendar",
                1,
                "Expected [BEGIN], read [hello, not a calendar]",
            ),
            ("", 1, "Unexpected end of file"),
            ("BEGIN:VCALENDAR\r\n", 2, "Unexpected end of file"),
            (
                "BEGIN:VEVENT\r\nEND:VEVENT\r\n",
                1,
                "Expected [VCALENDAR], read [VEVENT]",
            ),
            ("\r\n\r\nhello", 3, "Expected [BEGIN], read [hello]"),
            (
                "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n",
                3,
                "Expected [VEVENT], read [VCALENDAR]",
            ),
            (
                "BEGIN:VCALENDAR\r\nFOO\r\nEND:VCALENDAR\r\n",
                4,
                "Unexpected end of file",
            ),
            (
                "BEGIN;X=1:VCALENDAR\r\nEND:VCALENDAR\r\n",
                1,
                "Expected [58], read [59]",
            ),
            (
                "begin:vcalendar\r\nend:vcalendar\r\n",
                1,
                "Expected [BEGIN], read [begin]",
            ),
            (
                "BEGIN:VCALENDAR\r\nEND:VEVENT\r\n",
                2,
                "Expected [VCALENDAR], read [VEVENT]",
            ),
            (
                "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\ngarbage",
                3,
                "Unexpected end of file",
            ),
            (
                "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101\r\nRRULE:FREQ=NONSENSE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                4,
                "No enum constant net.fortuna.ical4j.transform.recurrence.Frequency.NONSENSE",
            ),
            (
                "BEGIN:VCALENDAR\r\nX-LONG:ab\r\n c\r\nBEGIN:VEVENT\r\nDTSTART:bad\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                5,
                "Text 'bad' could not be parsed at index 0",
            ),
        ];
        for (text, line, message) in cases {
            assert_eq!(err(text), (line, message.to_string()), "{text:?}");
        }
    }

    #[test]
    fn ical4j_3_dates_and_frequencies_fail_as_real_5_12_did() {
        let event = |line: &str| {
            format!("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n{line}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        };
        let legacy = |line: &str| check(event(line).as_bytes(), (3, 2)).map_err(|e| e.text());
        assert_eq!(
            legacy("DTSTART:garbage"),
            Err("Unparseable date: \"garbage\"".into())
        );
        assert_eq!(
            legacy("DTSTART:20260101"),
            Err("Unparseable date: \"20260101\"".into())
        );
        assert_eq!(
            legacy("DTSTART:20261301T080000Z"),
            Err("Unparseable date: \"20261301T080000Z\"".into())
        );
        assert_eq!(legacy("DTSTART;VALUE=DATE:20260101"), Ok(()));
        assert_eq!(legacy("DTSTART:20260101T080000"), Ok(()));
        assert_eq!(legacy("DTSTART:20260101T080000Zx"), Ok(()));
        assert_eq!(
            legacy("RRULE:FREQ=NONSENSE"),
            Err("No enum constant net.fortuna.ical4j.model.Recur.Frequency.NONSENSE".into())
        );
        assert_eq!(
            check(b"hello, not a calendar", (3, 2)).map_err(|e| e.text()),
            Err("Error at line 1:Expected [BEGIN], read [hello, not a calendar]".into())
        );
    }

    #[test]
    fn ical4j_4_2_words_an_unknown_frequency_as_real_6_14_4_did() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101\r\nRRULE:FREQ=NONSENSE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(
            check(text.as_bytes(), (4, 2)).map_err(|e| e.text()),
            Err("Error at line 4:Invalid value NONSENSE for FREQ".into())
        );
    }

    #[test]
    fn dates_fail_with_java_time_messages() {
        assert_eq!(
            check_date("garbage"),
            Err("Text 'garbage' could not be parsed at index 0".into())
        );
        assert_eq!(
            check_date("20260101T0800"),
            Err("Text '20260101T0800' could not be parsed, unparsed text found at index 8".into())
        );
        assert_eq!(
            check_date("20260101T080000Zx"),
            Err(
                "Text '20260101T080000Zx' could not be parsed, unparsed text found at index 16"
                    .into()
            )
        );
        assert_eq!(
            check_date("20261301T080000Z"),
            Err("Text '20261301T080000Z' could not be parsed: Invalid value for MonthOfYear (valid values 1 - 12): 13".into())
        );
        assert_eq!(check_date("20260101"), Ok(()));
        assert_eq!(check_date("20260101T080000Z"), Ok(()));
    }
}
