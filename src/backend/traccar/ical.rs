//! The check of a calendar's iCalendar text (the `calendars:` section's `file`), made when the
//! fleet file is loaded so a broken file is reported where it is named, not by the server at
//! apply (Traccar parses `data` with ical4j and answers 400 `ParserException`,
//! observed-objects.md §5). Pure; checks the structure only, as far as fleetform needs: the
//! text is one `BEGIN:VCALENDAR` ... `END:VCALENDAR` block, its components are balanced, and it
//! holds at least one `VEVENT` (a calendar without an event is never active, which is surely
//! not what a fleet file means). Property values are not judged.

/// Whether `text` is an iCalendar file fleetform accepts, or the reason it is not (with the
/// line, counted from 1).
pub fn check(text: &str) -> Result<(), String> {
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut events = 0;
    let mut closed = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_end_matches('\r');
        // Folded lines (a leading space or tab) continue a property; blank lines are skipped.
        if line.trim().is_empty() || line.starts_with([' ', '\t']) {
            continue;
        }
        if closed {
            return Err(format!(
                "line {number}: text after END:VCALENDAR; one calendar per file"
            ));
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name.trim().to_ascii_uppercase(), value.trim()),
            None => {
                return Err(format!(
                    "line {number}: {line:?} is not an iCalendar line (NAME:value)"
                ));
            }
        };
        let component = value.to_ascii_uppercase();
        if open.is_empty() && !(name == "BEGIN" && component == "VCALENDAR") {
            return Err(format!(
                "line {number}: an iCalendar file starts with BEGIN:VCALENDAR, not {line:?}"
            ));
        }
        match name.as_str() {
            "BEGIN" => open.push((component, number)),
            "END" => match open.pop() {
                Some((begun, _)) if begun == component => {
                    if component == "VEVENT" {
                        events += 1;
                    }
                    closed = open.is_empty();
                }
                Some((begun, at)) => {
                    return Err(format!(
                        "line {number}: END:{value} closes BEGIN:{begun} of line {at}"
                    ));
                }
                None => return Err(format!("line {number}: END:{value} without a BEGIN")),
            },
            _ => {}
        }
    }
    if let Some((begun, at)) = open.last() {
        return Err(format!(
            "BEGIN:{begun} of line {at} is never ended (END:{begun})"
        ));
    }
    if !closed {
        return Err("the file is empty: write BEGIN:VCALENDAR ... END:VCALENDAR".into());
    }
    if events == 0 {
        return Err(
            "the calendar holds no event (BEGIN:VEVENT ... END:VEVENT), so it would never be \
             active: add one"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    const WORKDAYS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART:20260105T070000Z\r\nDTEND:20260105T170000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn calendars_are_checked_by_structure() {
        assert_eq!(check(WORKDAYS), Ok(()));
        let table: Vec<(&str, &str)> = vec![
            ("", "the file is empty"),
            (
                "hello, not a calendar",
                "line 1: \"hello, not a calendar\" is not",
            ),
            (
                "BEGIN:VEVENT\nEND:VEVENT\n",
                "line 1: an iCalendar file starts with",
            ),
            (
                "BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n",
                "the calendar holds no event",
            ),
            (
                "BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\n",
                "line 3: END:VCALENDAR closes BEGIN:VEVENT of line 2",
            ),
            (
                "BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VEVENT\n",
                "BEGIN:VCALENDAR of line 1 is never ended",
            ),
            (
                "BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VEVENT\nEND:VCALENDAR\nX:1\n",
                "line 5: text after END:VCALENDAR",
            ),
        ];
        for (text, expected) in table {
            let got = check(text).expect_err(text);
            assert!(got.starts_with(expected), "{text:?}: {got}");
        }
    }
}
