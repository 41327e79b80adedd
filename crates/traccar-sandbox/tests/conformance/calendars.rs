//! Calendars (observed-objects.md §5): `data` is the base64 of an iCalendar file, decoded and
//! parsed while the body is read; only users link to calendars; the list is a
//! `SimpleObjectResource` (no device or group filter); deleting one clears `calendarId` on
//! geofences, notifications and devices.

use serde_json::json;

use super::harness::*;

/// §5: `data` is stored as the bytes the base64 carried and returned as base64.
#[tokio::test]
async fn data_is_a_base64_icalendar_file_returned_as_sent() {
    let t = target().await;
    let name = format!("conf-cal-{}", suffix());
    let r = t
        .post(
            t.admin(),
            "/api/calendars",
            json!({"name": name, "data": base64(ICS), "attributes": {"note": "x"}}),
        )
        .await;
    r.expect(200);
    let id = r.id();
    let expected =
        json!({"id": id, "attributes": {"note": "x"}, "name": name, "data": base64(ICS)});
    assert_eq!(r.json(), expected);
    assert_eq!(t.fetch(&format!("/api/calendars/{id}")).await, expected);
}

/// §5: data that is not base64 is Jackson's 400 text/plain; it quotes what follows the first
/// bad character.
#[tokio::test]
async fn data_that_is_not_base64_is_400_text_plain() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/calendars",
            json!({"name": "bad", "data": "!!not base64!!"}),
        )
        .await;
    r.expect_error(400, "Cannot deserialize value of type `byte[]` from String \"!not base64!!\": Failed to decode VALUE_STRING as base64 (MIME-NO-LINEFEEDS): Illegal character '!' (code 0x21) in base64 content");
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    assert!(
        r.text
            .contains("(through reference chain: org.traccar.model.Calendar[\"data\"])"),
        "{}",
        r.text
    );
}

/// §5: base64 that is not iCalendar is ical4j's ParserException, 400 text/plain (real 5.12's
/// older Jackson gives the bare message, the reference chain on the next line).
#[tokio::test]
async fn data_that_is_not_icalendar_is_a_parser_exception() {
    let t = target().await;
    for (text, message) in [
        (
            "hello, not a calendar",
            "Error at line 1:Expected [BEGIN], read [hello, not a calendar]",
        ),
        (
            "BEGIN:VCALENDAR\r\n",
            "Error at line 2:Unexpected end of file",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n",
            "Error at line 3:Expected [VEVENT], read [VCALENDAR]",
        ),
    ] {
        let r = t
            .post(
                t.admin(),
                "/api/calendars",
                json!({"name": "bad", "data": base64(text)}),
            )
            .await;
        if t.at_least(6, 6) {
            r.expect_error(400, &format!("net.fortuna.ical4j.data.ParserException: {message} (through reference chain: org.traccar.model.Calendar[\"data\"])"));
        } else {
            r.expect_error(400, message);
            assert!(
                r.text
                    .contains("(through reference chain: org.traccar.model.Calendar[\"data\"])"),
                "{}",
                r.text
            );
        }
        assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    }
}

/// §5: `name` and `data` are NOT NULL; a PUT without `data` fails the same way.
#[tokio::test]
async fn name_and_data_are_required_on_post_and_put() {
    let t = target().await;
    let not_null = |column: &str| {
        format!(
            "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: NULL not allowed for column \"{column}\"; SQL statement:"
        )
    };
    t.post(t.admin(), "/api/calendars", json!({"name": "nodata"}))
        .await
        .expect_error(400, &not_null("DATA"));
    t.post(t.admin(), "/api/calendars", json!({"data": base64(ICS)}))
        .await
        .expect_error(400, &not_null("NAME"));
    let id = t.calendar(t.admin()).await;
    let r = t
        .put(
            t.admin(),
            &format!("/api/calendars/{id}"),
            json!({"id": id, "name": "no data in PUT"}),
        )
        .await;
    r.expect_error(400, &not_null("DATA"));
    assert!(r.text.contains("UPDATE tc_calendars SET"), "{}", r.text);
}

/// §1.2: an unknown field lists the calendar's four known properties.
#[tokio::test]
async fn unknown_field_is_400_text_plain_listing_the_known_properties() {
    let t = target().await;
    t.post(
        t.admin(),
        "/api/calendars",
        json!({"name": "u", "data": base64(ICS), "bogus": 1}),
    )
    .await
    .expect_error(
        400,
        &t.unrecognized("Calendar", "bogus", &["data", "id", "attributes", "name"]),
    );
}

/// §5 and §10: only users link to calendars; a device or group link names a table that does
/// not exist.
#[tokio::test]
async fn only_users_link_to_calendars() {
    let t = target().await;
    let id = t.calendar(t.admin()).await;
    let u = t.user(json!({})).await;
    t.link(t.admin(), json!({"userId": u.id, "calendarId": id}))
        .await
        .expect(204);
    assert_eq!(
        t.ids(t.admin(), &format!("/api/calendars?userId={}", u.id))
            .await,
        vec![id]
    );
    assert_eq!(t.ids(Auth::Basic(&u), "/api/calendars").await, vec![id]);
    let (d, _) = t.device(t.admin()).await;
    let g = t.group(t.admin(), 0).await;
    for (owner, owner_id, table) in [
        ("deviceId", d, "TC_DEVICE_CALENDAR"),
        ("groupId", g, "TC_GROUP_CALENDAR"),
    ] {
        t.link(t.admin(), json!({owner: owner_id, "calendarId": id}))
            .await
            .expect_error(400, &format!("org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLSyntaxErrorException: Table \"{table}\" not found; SQL statement:"));
    }
}

/// §1.6: calendars are a SimpleObjectResource: `deviceId` and `groupId` are ignored (not even
/// converted), `userId` and `all` work.
#[tokio::test]
async fn device_and_group_filters_are_ignored() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let id = t.calendar(Auth::Basic(&u)).await;
    for query in ["deviceId=999999999", "groupId=999999999", "deviceId=abc"] {
        assert_eq!(
            t.ids(Auth::Basic(&u), &format!("/api/calendars?{query}"))
                .await,
            vec![id],
            "{query}"
        );
    }
    assert!(
        t.ids(t.admin(), "/api/calendars?all=true")
            .await
            .contains(&id)
    );
    assert!(!t.ids(t.admin(), "/api/calendars").await.contains(&id));
}

/// §5 and §13: deleting a calendar sets `calendarId` to 0 on the geofences, notifications and
/// devices that used it.
#[tokio::test]
async fn deleting_a_calendar_clears_it_from_geofences_notifications_and_devices() {
    let t = target().await;
    let calendar = t.calendar(t.admin()).await;
    let fence = t
        .object(
            t.admin(),
            "/api/geofences",
            json!({"name": format!("conf-gf-{}", suffix()), "area": "CIRCLE (1 1, 10)", "calendarId": calendar}),
        )
        .await;
    let notification = t
        .notification(t.admin(), json!({"calendarId": calendar}))
        .await;
    let r = t
        .create_device(t.admin(), json!({"calendarId": calendar}))
        .await;
    r.expect(200);
    let device = r.id();
    assert_eq!(
        t.fetch(&format!("/api/devices/{device}")).await["calendarId"],
        json!(calendar)
    );
    t.delete(t.admin(), &format!("/api/calendars/{calendar}"))
        .await
        .expect(204);
    for path in [
        format!("/api/geofences/{fence}"),
        format!("/api/notifications/{notification}"),
        format!("/api/devices/{device}"),
    ] {
        assert_eq!(t.fetch(&path).await["calendarId"], json!(0), "{path}");
    }
}

/// §1.4: PUT replaces the whole calendar (attributes omitted become `{}`).
#[tokio::test]
async fn put_replaces_the_whole_calendar() {
    let t = target().await;
    let name = format!("conf-cal-{}", suffix());
    let id = t
        .object(
            t.admin(),
            "/api/calendars",
            json!({"name": name, "data": base64(ICS), "attributes": {"note": "x"}}),
        )
        .await;
    t.put(
        t.admin(),
        &format!("/api/calendars/{id}"),
        json!({"id": id, "name": format!("{name} renamed"), "data": base64(ICS)}),
    )
    .await
    .expect(200);
    let v = t.fetch(&format!("/api/calendars/{id}")).await;
    assert_eq!(v["name"], json!(format!("{name} renamed")));
    assert_eq!(v["attributes"], json!({}));
}

/// §5 and VERSIONS.md: ical4j checks dates and `FREQ`, in each release's words (5.12's
/// ical4j 3 without a line; 6.9.1's 4.1 and 6.14.4's 4.2 with one).
#[tokio::test]
async fn bad_dates_and_frequencies_are_rejected_in_each_versions_words() {
    let t = target().await;
    let event = |line: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101T080000Z\r\n{line}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    };
    let wrapped = |message: &str| {
        format!(
            "net.fortuna.ical4j.data.ParserException: {message} (through reference chain: org.traccar.model.Calendar[\"data\"])"
        )
    };
    let cases = [
        (
            "RRULE:FREQ=NONSENSE",
            "No enum constant net.fortuna.ical4j.model.Recur.Frequency.NONSENSE".to_string(),
            if t.at_least(6, 11) {
                wrapped("Error at line 4:Invalid value NONSENSE for FREQ")
            } else {
                wrapped(
                    "Error at line 4:No enum constant net.fortuna.ical4j.transform.recurrence.Frequency.NONSENSE",
                )
            },
        ),
        (
            "DTEND:garbage",
            "Unparseable date: \"garbage\"".to_string(),
            wrapped("Error at line 4:Text 'garbage' could not be parsed at index 0"),
        ),
    ];
    for (line, legacy, modern) in cases {
        let r = t
            .post(
                t.admin(),
                "/api/calendars",
                json!({"name": "bad", "data": base64(&event(line))}),
            )
            .await;
        r.expect_error(400, if t.at_least(6, 6) { &modern } else { &legacy });
    }
}
