//! The check of a geofence's `area` (the `geofences:` section), which Traccar 6.9 and later
//! store unparsed (observed-objects.md §2: `"garbage"` is accepted and only the event engine
//! trips over it later). Pure: the text is parsed as one of Traccar's three shapes, with
//! coordinates in range, so a typo is a located error in the fleet file rather than a
//! geofence that silently never fires.
//!
//! The shapes (latitude first, as Traccar writes them):
//! - `CIRCLE (lat lon, radius)`: the radius in metres, positive.
//! - `POLYGON ((lat lon, lat lon, lat lon, ...))`: at least three points.
//! - `LINESTRING (lat lon, lat lon, ...)`: at least two points.
//!
//! Latitudes lie in -90..=90, longitudes in -180..=180. The keyword is upper case and a point
//! is two numbers separated by one space, as Traccar before 6.9 required when it still parsed
//! areas on write (so a file valid here is valid on every version).

/// Checks `area`; the error says what is wrong and shows the expected form.
pub fn check(area: &str) -> Result<(), String> {
    let area = area.trim();
    let (shape, rest) = match area.find('(') {
        Some(at) => (area[..at].trim_end(), &area[at..]),
        None => (area, ""),
    };
    match shape {
        "CIRCLE" => circle(rest),
        "POLYGON" => {
            let inner = enclosed(
                rest,
                "((",
                "))",
                "POLYGON ((48.1 16.3, 48.2 16.3, 48.2 16.4))",
            )?;
            points(inner, 3, "POLYGON")
        }
        "LINESTRING" => {
            let inner = enclosed(rest, "(", ")", "LINESTRING (48.1 16.3, 48.2 16.4)")?;
            points(inner, 2, "LINESTRING")
        }
        _ => Err(format!(
            "`area` must be a CIRCLE, POLYGON or LINESTRING, e.g. \"CIRCLE (48.2082 16.3738, \
             200)\", not {area:?}"
        )),
    }
}

/// The text between `open` and `close` that must enclose all of `rest`.
fn enclosed<'a>(rest: &'a str, open: &str, close: &str, example: &str) -> Result<&'a str, String> {
    rest.strip_prefix(open)
        .and_then(|r| r.strip_suffix(close))
        .filter(|inner| !inner.contains('(') && !inner.contains(')'))
        .ok_or_else(|| format!("`area` has unbalanced parentheses: write it as \"{example}\""))
}

fn circle(rest: &str) -> Result<(), String> {
    const EXAMPLE: &str = "CIRCLE (48.2082 16.3738, 200)";
    let inner = enclosed(rest, "(", ")", EXAMPLE)?;
    let parts: Vec<&str> = inner.split(',').collect();
    let [centre, radius] = parts.as_slice() else {
        return Err(format!(
            "a CIRCLE is a centre and a radius: write it as \"{EXAMPLE}\""
        ));
    };
    point(centre.trim())?;
    match radius.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(()),
        _ => Err(format!(
            "the CIRCLE radius {:?} must be a positive number of metres",
            radius.trim()
        )),
    }
}

fn points(inner: &str, least: usize, shape: &str) -> Result<(), String> {
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    if parts.len() < least {
        return Err(format!(
            "a {shape} needs at least {least} points (`lat lon`, separated by commas), not {}",
            parts.len()
        ));
    }
    parts.into_iter().try_for_each(point)
}

/// One `lat lon` point with both coordinates in range.
fn point(text: &str) -> Result<(), String> {
    let parts: Vec<&str> = text.split(' ').collect();
    let [lat, lon] = parts.as_slice() else {
        return Err(format!(
            "the point {text:?} must be two numbers separated by one space: `lat lon`"
        ));
    };
    let number = |s: &str, what: &str, limit: f64| match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= limit => Ok(()),
        Ok(_) => Err(format!(
            "the {what} {s} of the point {text:?} is out of range (-{limit}..{limit}); points \
             are `lat lon`, latitude first"
        )),
        Err(_) => Err(format!(
            "the {what} {s:?} of the point {text:?} is not a number"
        )),
    };
    number(lat, "latitude", 90.0)?;
    number(lon, "longitude", 180.0)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn the_three_shapes_pass() {
        assert_eq!(check("CIRCLE (48.2082 16.3738, 200)"), Ok(()));
        assert_eq!(check("CIRCLE(-33.9 151.2,10.5)"), Ok(()));
        assert_eq!(
            check("POLYGON ((48.1 16.3, 48.2 16.3, 48.2 16.4, 48.1 16.3))"),
            Ok(())
        );
        assert_eq!(check("LINESTRING (48.1 16.3, 48.2 -179.9)"), Ok(()));
    }

    #[test]
    fn mistakes_are_refused_with_the_reason() {
        let err = |area: &str| check(area).expect_err(area);
        assert!(err("garbage").contains("CIRCLE, POLYGON or LINESTRING"));
        assert!(err("circle (1 1, 5)").contains("CIRCLE, POLYGON or LINESTRING"));
        assert!(err("CIRCLE (abc)").contains("a centre and a radius"));
        assert!(err("CIRCLE (48.2 16.3, 0)").contains("positive"));
        assert!(err("CIRCLE (48.2 16.3, -5)").contains("positive"));
        assert!(err("CIRCLE (91 16.3, 5)").contains("latitude 91 of the point"));
        assert!(err("CIRCLE (16.3 190, 5)").contains("longitude 190"));
        assert!(err("CIRCLE (48.2 x, 5)").contains("not a number"));
        assert!(err("CIRCLE (48.2  16.3, 5)").contains("one space"));
        assert!(err("CIRCLE (48.2 16.3, 5").contains("parentheses"));
        assert!(err("POLYGON ((1 1, 2 2))").contains("at least 3 points"));
        assert!(err("POLYGON (1 1, 2 2, 3 3)").contains("parentheses"));
        assert!(err("LINESTRING (1 1)").contains("at least 2 points"));
        assert!(err("CIRCLE (NaN 1, 5)").contains("out of range"));
    }
}
