//! alarms: the alarm keys each known Traccar release has, and the check of a notification's
//! `alarms:` list against the server's version. Pure: no I/O.
//!
//! Traccar fires a notification of type `alarm` when a position's `alarm` attribute is one of
//! the notification's keys (compared exactly); it checks nothing when the notification is
//! saved, so a misspelt key is stored and never fires. The server serves no list of the keys:
//! they are the `ALARM_*` string constants of `org.traccar.model.Position`. The tables below
//! were read from each release's own jar with
//!
//! ```text
//! javap -constants -cp tracker-server.jar org.traccar.model.Position | grep ALARM_
//! ```
//!
//! on the real 5.12, 6.9.1 and 6.14.4 servers: all three have the same 38 keys (the `ALARM_*`
//! lines are byte for byte equal), so the table is one list named three times. A release read
//! later that adds keys gets an entry of its own.
//!
//! Which keys a server of version v is judged by (`Judge::of`):
//! - v is a known release: its keys; anything else is refused.
//! - v lies between two known releases: the keys of either (a key the older one lacks may have
//!   come in v, one the newer one lacks may still be in v); anything else is refused.
//! - v is older than the oldest known release (5.12): the oldest table. (fleetform refuses
//!   notifications before 6.6 anyway, `rules.rs`.)
//! - v is newer than the newest known release, or unknown (0): a newer server may know keys no
//!   table here has, and an upgrade must not block a file that uses them. So only a key that
//!   differs from a known key in letter case alone (`lowSpeed` for `lowspeed`) is refused:
//!   Traccar compares exactly and no release has two keys that differ only in case, so such a
//!   key never fires. Any other key is accepted as the server's own.

use super::version::Version;
use crate::core::model::{Desired, Live, ObjectKind, Problem, Value};

/// The alarm keys of Traccar 5.12, 6.9.1 and 6.14.4 (the same in all three), sorted.
const KEYS_5_12_TO_6_14_4: [&str; 38] = [
    "accident",
    "bonnet",
    "door",
    "fallDown",
    "fatigueDriving",
    "fault",
    "footBrake",
    "fuelLeak",
    "general",
    "geofence",
    "geofenceEnter",
    "geofenceExit",
    "gpsAntennaCut",
    "hardAcceleration",
    "hardBraking",
    "hardCornering",
    "highRpm",
    "idle",
    "jamming",
    "laneChange",
    "lock",
    "lowBattery",
    "lowPower",
    "lowspeed",
    "movement",
    "overspeed",
    "parking",
    "powerCut",
    "powerOff",
    "powerOn",
    "powerRestored",
    "removing",
    "sos",
    "tampering",
    "temperature",
    "tow",
    "unlock",
    "vibration",
];

/// The known releases, oldest first, each with its alarm keys (from its jar, see the header).
pub const RELEASES: [(Version, &[&str]); 3] = [
    (Version(5, 12, 0), &KEYS_5_12_TO_6_14_4),
    (Version(6, 9, 1), &KEYS_5_12_TO_6_14_4),
    (Version(6, 14, 4), &KEYS_5_12_TO_6_14_4),
];

/// How a server's version judges a key (see the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Judge {
    /// Exactly these releases' keys (one release, or the two around the version).
    Known(&'static [(Version, &'static [&'static str])]),
    /// Newer than every known release, or unknown: only case-only misspellings are refused.
    Newer,
}

impl Judge {
    fn of(version: Version) -> Judge {
        let newest = RELEASES.len() - 1;
        if version.0 == 0 || version > RELEASES[newest].0 {
            return Judge::Newer;
        }
        match RELEASES.iter().position(|(v, _)| *v >= version) {
            Some(i) if RELEASES[i].0 == version || i == 0 => Judge::Known(&RELEASES[i..=i]),
            Some(i) => Judge::Known(&RELEASES[i - 1..=i]),
            None => Judge::Newer,
        }
    }
}

/// A release as Traccar names it (`5.12`, `6.9.1`).
fn name(v: Version) -> String {
    match v {
        Version(major, minor, 0) => format!("{major}.{minor}"),
        Version(major, minor, patch) => format!("{major}.{minor}.{patch}"),
    }
}

/// Where the tables come from, for messages.
const WHERE: &str = "the `ALARM_*` constants of org.traccar.model.Position in the server's \
                     tracker-server.jar; see README \"Alarm keys\"";

/// Checks one alarm key for a server that reports `reported` as its version (`GET
/// /api/server`): the reason it is refused, naming the key, the version, the closest known
/// key when one is plausible, and the keys that version has.
pub fn check_key(reported: &str, key: &str) -> Result<(), String> {
    let version = Version::parse(reported);
    let shown = if reported.is_empty() {
        "(version not reported)"
    } else {
        reported
    };
    match Judge::of(version) {
        Judge::Known(releases) => {
            let mut known: Vec<&str> = releases
                .iter()
                .flat_map(|(_, keys)| keys.iter())
                .copied()
                .collect();
            known.sort_unstable();
            known.dedup();
            if known.contains(&key) {
                return Ok(());
            }
            let close = crate::core::suggest::suggest(key, &known)
                .map(|k| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            let from = match releases {
                [(v, _)] if *v == version => String::new(),
                [(v, _)] => format!(
                    " (fleetform judges it by {}, the oldest release it knows)",
                    name(*v)
                ),
                [(a, _), (b, _), ..] => format!(
                    " (fleetform knows the keys of {} and {} and accepts what either has)",
                    name(*a),
                    name(*b)
                ),
                [] => String::new(),
            };
            Err(format!(
                "`{key}` is not an alarm key of Traccar {shown}{from}, so the notification would \
                 never fire for it; {close}use one of: {} ({WHERE})",
                known.join(", ")
            ))
        }
        Judge::Newer => {
            let (newest, keys) = RELEASES[RELEASES.len() - 1];
            match keys
                .iter()
                .find(|k| k.eq_ignore_ascii_case(key) && **k != key)
            {
                Some(k) => Err(format!(
                    "`{key}` is not an alarm key of Traccar {shown}: did you mean `{k}`? Traccar \
                     compares alarm keys exactly, and every release up to {} spells it `{k}` \
                     ({WHERE})",
                    name(newest)
                )),
                None => Ok(()),
            }
        }
    }
}

/// The problems of the file's notifications' `alarms:` lists on this server: a key the
/// server's version does not have (`check_key`), at the key in the list; and a non-empty list
/// on a notification whose type (the file's, else the server's) is not `alarm`, at the list.
/// Traccar ignores `alarms` for other types, so such a list is a mistake (a wrong type, or a
/// list left behind); `[]` is accepted, it only clears the stored keys.
/// `notification`: the backend's notification kind (its fields `alarms` and `type`).
pub fn check(desired: &Desired, live: &Live, notification: ObjectKind) -> Vec<Problem> {
    let Some(spec) = desired.backend.object(notification) else {
        return Vec::new();
    };
    let (Some(alarms), Some(ty)) = (spec.field("alarms"), spec.field("type")) else {
        return Vec::new();
    };
    let reported = &live.account.server_version;
    let mut problems = Vec::new();
    for (key, want) in desired.objects.get(&notification).into_iter().flatten() {
        let Some(list) = want.fields.get(&alarms) else {
            continue;
        };
        let origin = |item: Option<&str>| {
            let at = (
                notification,
                key.clone(),
                "alarms",
                item.map(str::to_string),
            );
            desired
                .field_origins
                .get(&at)
                .cloned()
                .or_else(|| want.origin.clone())
        };
        let words = list.words();
        let kind = want.fields.get(&ty).or_else(|| {
            live.objects
                .get(&notification)
                .and_then(|objects| objects.get(key))
                .and_then(|object| object.fields.get(&ty))
        });
        if let Some(Value::Text(kind)) = kind
            && kind != "alarm"
            && !words.is_empty()
        {
            problems.push(Problem {
                user: None,
                origin: origin(None),
                message: format!(
                    "{notification} {key}: `alarms` is for notifications of type `alarm`, \
                     and this one's type is `{kind}` (Traccar ignores the keys for it): remove \
                     `alarms`, or set `type: alarm`"
                ),
            });
        }
        for word in words {
            if let Err(why) = check_key(reported, &word) {
                problems.push(Problem {
                    user: None,
                    origin: origin(Some(&word)),
                    message: format!("{notification} {key}: `alarms`: {why}"),
                });
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The notification kind, as Traccar's description names it.
    const NOTIFICATION: ObjectKind = ObjectKind("notification");

    #[test]
    fn the_tables_are_sorted_without_repeats_and_oldest_first() {
        for (_, keys) in RELEASES {
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        }
        assert!(RELEASES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn each_known_release_accepts_its_keys_and_refuses_others() {
        for (version, keys) in RELEASES {
            let reported = name(version);
            for key in keys {
                assert_eq!(check_key(&reported, key), Ok(()), "{reported} {key}");
            }
            let err = check_key(&reported, "sosx").expect_err("not a key");
            assert!(
                err.starts_with(&format!(
                    "`sosx` is not an alarm key of Traccar {reported}, "
                )),
                "{err}"
            );
            assert!(err.contains("did you mean `sos`?"), "{err}");
            assert!(err.contains("use one of: accident, bonnet, "), "{err}");
            assert!(err.contains("org.traccar.model.Position"), "{err}");
        }
    }

    #[test]
    fn the_three_jars_had_the_same_keys() {
        // Read with javap from the real 5.12, 6.9.1 and 6.14.4 jars: no key is new in 6.14.4,
        // so none is refused on 5.12 and accepted on 6.14.4. Should a table differ, the
        // versioned tests below judge each key by its own table.
        assert_eq!(RELEASES[0].1, RELEASES[1].1);
        assert_eq!(RELEASES[1].1, RELEASES[2].1);
        assert!(RELEASES[0].1.contains(&"lowspeed") && RELEASES[0].1.len() == 38);
    }

    #[test]
    fn a_key_new_in_a_later_release_is_refused_before_it() {
        // Every key a later table adds is refused by the earlier release and accepted by its
        // own (vacuous while the tables agree, see above; kept for the next table).
        for pair in RELEASES.windows(2) {
            let ((old, old_keys), (new, new_keys)) = (pair[0], pair[1]);
            for key in new_keys.iter().filter(|k| !old_keys.contains(k)) {
                assert!(
                    check_key(&name(old), key).is_err(),
                    "{key} on {}",
                    name(old)
                );
                assert_eq!(check_key(&name(new), key), Ok(()));
            }
        }
    }

    #[test]
    fn which_tables_judge_a_version() {
        let v = Version::parse;
        assert_eq!(Judge::of(v("5.12")), Judge::Known(&RELEASES[0..=0]));
        assert_eq!(Judge::of(v("6.9.1")), Judge::Known(&RELEASES[1..=1]));
        assert_eq!(Judge::of(v("6.14.4")), Judge::Known(&RELEASES[2..=2]));
        assert_eq!(Judge::of(v("6.10.0")), Judge::Known(&RELEASES[1..=2]));
        assert_eq!(Judge::of(v("6.0")), Judge::Known(&RELEASES[0..=1]));
        assert_eq!(Judge::of(v("5.0")), Judge::Known(&RELEASES[0..=0]));
        assert_eq!(Judge::of(v("6.14.5")), Judge::Newer);
        assert_eq!(Judge::of(v("7.0")), Judge::Newer);
        assert_eq!(Judge::of(v("")), Judge::Newer);
    }

    #[test]
    fn between_and_before_known_releases_the_message_says_which_tables() {
        let err = check_key("6.10.0", "sosx").expect_err("not a key");
        assert!(
            err.contains("Traccar 6.10.0 (fleetform knows the keys of 6.9.1 and 6.14.4"),
            "{err}"
        );
        let err = check_key("5.0", "sosx").expect_err("not a key");
        assert!(
            err.contains("Traccar 5.0 (fleetform judges it by 5.12, the oldest"),
            "{err}"
        );
        assert_eq!(check_key("6.10.0", "movement"), Ok(()));
    }

    #[test]
    fn a_newer_server_is_not_refused_keys_fleetform_does_not_know() {
        for reported in ["6.14.5", "7.1", ""] {
            assert_eq!(check_key(reported, "sos"), Ok(()));
            // Perhaps the newer server's own key: accepted.
            assert_eq!(check_key(reported, "batteryTheft"), Ok(()));
            // Only the case differs from a known key: never fires on any release.
            let err = check_key(reported, "lowSpeed").expect_err("case");
            assert!(err.contains("did you mean `lowspeed`?"), "{err}");
            assert!(
                err.contains("every release up to 6.14.4 spells it `lowspeed`"),
                "{err}"
            );
        }
        let err = check_key("", "SOS").expect_err("case");
        assert!(
            err.starts_with("`SOS` is not an alarm key of Traccar (version not reported)"),
            "{err}"
        );
    }

    #[test]
    fn a_known_release_refuses_a_case_misspelling_too() {
        let err = check_key("6.9.1", "lowSpeed").expect_err("case");
        assert!(err.contains("did you mean `lowspeed`?"), "{err}");
    }

    /// A loaded file's `notifications:` against a server of `version`, with a live
    /// notification `by-hand` of type `deviceOnline`: the problems' `origin: message` lines.
    fn problems(version: &str, notifications: &str) -> Vec<String> {
        let text = format!("version: 1\nfleet: f\nnotifications:\n{notifications}");
        let loaded = crate::config::parse(&text, "f.yaml").expect("loads");
        let spec = crate::testing::TRACCAR
            .object(NOTIFICATION)
            .expect("notifications");
        let hand = crate::core::model::LiveObject {
            key: "by-hand".into(),
            marker: None,
            fields: [(
                spec.field("type").expect("type"),
                Value::Text("deviceOnline".into()),
            )]
            .into(),
            links: Default::default(),
        };
        let live = Live {
            account: crate::core::model::Account {
                backend: "traccar".into(),
                url: "http://t".into(),
                server_version: version.into(),
                email: "admin@x.test".into(),
                role: "admin".into(),
            },
            users: Default::default(),
            targets: Default::default(),
            ambiguous: Default::default(),
            owner_targets: Default::default(),
            now: chrono::Utc::now(),
            objects: [(NOTIFICATION, [("by-hand".to_string(), hand)].into())].into(),
            unnamed: Default::default(),
            choices: Default::default(),
        };
        check(&loaded.desired, &live, NOTIFICATION)
            .iter()
            .map(|p| format!("{}: {}", p.origin.as_deref().unwrap_or("-"), p.message))
            .collect()
    }

    #[test]
    fn an_unknown_key_is_located_at_the_key_in_the_list() {
        let got = problems(
            "6.9.1",
            "  theft: { type: alarm, alarms: [movement, sosx, tow] }\n",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with(
                "f.yaml:4:44: notification theft: `alarms`: `sosx` is not an alarm key of \
                 Traccar 6.9.1, "
            ),
            "{got:?}"
        );
        // A block list: each key on its own line.
        let got = problems(
            "5.12",
            "  theft:\n    type: alarm\n    alarms:\n      - sos\n      - lowSpeed\n",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("f.yaml:8:9: notification theft: `alarms`: `lowSpeed`"));
        assert!(got[0].contains("did you mean `lowspeed`?"), "{got:?}");
        assert!(problems("6.14.4", "  theft: { type: alarm, alarms: [sos, tow] }\n").is_empty());
    }

    #[test]
    fn alarms_on_another_type_are_refused_by_the_files_type_or_the_servers() {
        let got = problems("6.9.1", "  online: { type: deviceOnline, alarms: [sos] }\n");
        assert_eq!(
            got,
            [
                "f.yaml:4:33: notification online: `alarms` is for notifications of type `alarm`, \
              and this one's type is `deviceOnline` (Traccar ignores the keys for it): remove \
              `alarms`, or set `type: alarm`"
            ]
        );
        // The type left out: the server's notification's type judges.
        let got = problems("6.9.1", "  by-hand: { alarms: [sos] }\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("this one's type is `deviceOnline`"),
            "{got:?}"
        );
        // The file changes the type to alarm: fine. `[]` only clears the keys: fine.
        assert!(problems("6.9.1", "  by-hand: { type: alarm, alarms: [sos] }\n").is_empty());
        assert!(problems("6.9.1", "  by-hand: { alarms: [] }\n").is_empty());
        // A new notification without `type` (the plan refuses it as incomplete elsewhere).
        assert!(problems("6.9.1", "  fresh: { alarms: [sos] }\n").is_empty());
    }

    #[test]
    fn a_newer_server_lets_keys_through_that_no_table_has() {
        assert!(
            problems(
                "6.14.5",
                "  theft: { type: alarm, alarms: [batteryTheft] }\n"
            )
            .is_empty()
        );
        let got = problems(
            "6.14.5",
            "  theft: { type: alarm, alarms: [batteryTheft, SOS] }\n",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("f.yaml:4:48: "), "{got:?}");
    }
}
