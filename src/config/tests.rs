//! Unit tests of config: every problem kind with its location and message, merges, and hostile
//! input.

use super::*;

#[test]
fn smoke() {
    let text = r#"# yaml-language-server: $schema=./schemas/fleet.schema.json
version: 1
fleet: acme-bikes
server:
  url: https://traccar.example.com
manager: fleet@acme.example
prune: delete
roles:
  rider: { deviceReadonly: true, deviceLimit: 0, limitCommands: true }
users:
  - email: max@mustermann.at
    name: Max Mustermann
    role: rider
    readonly: false
    expirationTime: 2027-06-30T00:00:00Z
    devices: [BT-000123]
    groups: [Vienna]
    attributes: { costCenter: "4711" }
"#;
    let loaded = parse(text, "fleet.yaml").unwrap();
    println!("{loaded:#?}");
    let bad = "version: 2\nfleet: 'no way'\nbogus: 1\nprune: never\nusers:\n  - email: a@b\n    readonly: maybe\n    nme: x\n    deviceLimit: -5\n  - email: A@B\n    role: ridr\n    devices: [x, x]\n    attributes: {fleetform: 1}\n  - email: nope\n    expirationTime: tomorrow\n  - 7\n  - name: q\n    readonly: [1]\n";
    println!("{}", parse(bad, "f.yaml").unwrap_err());
}

use chrono::TimeDelta;

use crate::model::{Prune, Safety, UserKey, Value};

const HEAD: &str = "version: 1\nfleet: acme\n";

/// The problems of `text` as `location: message` lines, or the loaded fleet.
fn problems(text: &str) -> Vec<String> {
    match parse(text, "f.yaml") {
        Ok(loaded) => panic!("expected problems, got {loaded:?}"),
        Err(p) => p.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn safety_and_prune_after_table() {
    let table: Vec<(&str, String, Safety, Option<TimeDelta>)> = vec![
        ("defaults", HEAD.to_string(), Safety::default(), None),
        (
            "every safety key",
            format!(
                "{HEAD}safety:\n  maxRemovalPercent: 10\n  minManagedForPercent: 2\n  \
                 maxUnlinkPercent: 50\n  minLinksForPercent: 5\n  allowRemoveAll: true\n"
            ),
            Safety {
                max_removal_percent: 10,
                min_managed_for_percent: 2,
                max_unlink_percent: 50,
                min_links_for_percent: 5,
                allow_remove_all: true,
            },
            None,
        ),
        (
            "some safety keys",
            format!("{HEAD}safety: {{ maxUnlinkPercent: 0 }}\n"),
            Safety {
                max_unlink_percent: 0,
                ..Safety::default()
            },
            None,
        ),
        (
            "days",
            format!("{HEAD}prune: disable\npruneAfter: 30d\n"),
            Safety::default(),
            Some(TimeDelta::days(30)),
        ),
        (
            "hours",
            format!("{HEAD}prune: disable\npruneAfter: 12h\n"),
            Safety::default(),
            Some(TimeDelta::hours(12)),
        ),
        (
            "minutes",
            format!("{HEAD}prune: disable\npruneAfter: \"90m\"\n"),
            Safety::default(),
            Some(TimeDelta::minutes(90)),
        ),
    ];
    for (name, text, safety, prune_after) in table {
        let loaded = parse(&text, "f.yaml").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.desired.safety, safety, "case: {name}");
        assert_eq!(loaded.desired.prune_after, prune_after, "case: {name}");
    }
}

#[test]
fn top_level_problems_table() {
    let table: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unknown safety key",
            format!("{HEAD}safety:\n  maxRemovalPercnt: 5\n"),
            vec![
                "f.yaml:4:3: `safety`: unknown key `maxRemovalPercnt`: did you mean \
                 `maxRemovalPercent`?",
            ],
        ),
        (
            "percent over 100",
            format!("{HEAD}safety:\n  maxUnlinkPercent: 150\n"),
            vec!["f.yaml:4:21: `maxUnlinkPercent` is 150: a percentage is 0 to 100"],
        ),
        (
            "negative count",
            format!("{HEAD}safety:\n  minLinksForPercent: -1\n"),
            vec!["f.yaml:4:23: `minLinksForPercent`: expected u32, found the integer -1"],
        ),
        (
            "pruneAfter without a unit",
            format!("{HEAD}prune: disable\npruneAfter: 30\n"),
            vec![
                "f.yaml:4:13: invalid `pruneAfter` \"30\": write a whole number followed by d \
                 (days), h (hours) or m (minutes), e.g. 30d",
            ],
        ),
        (
            "pruneAfter zero",
            format!("{HEAD}prune: disable\npruneAfter: 0d\n"),
            vec![
                "f.yaml:4:13: invalid `pruneAfter` \"0d\": it must be at least 1m: a disabled \
                 user is deleted only after this grace period",
            ],
        ),
        (
            "pruneAfter with prune delete",
            format!("{HEAD}pruneAfter: 30d\n"),
            vec![
                "f.yaml:3:13: `pruneAfter` only works with `prune: disable` (it deletes users \
                 fleetform disabled that long ago), but prune is delete: set `prune: disable` \
                 or remove `pruneAfter`",
            ],
        ),
        (
            "reserved attributes",
            format!(
                "{HEAD}users:\n  - email: a@x.test\n    attributes: {{ fleetformDisabledAt: x, \
                 fleetform: y }}\n"
            ),
            vec![
                "f.yaml:5:19: the attribute `fleetformDisabledAt` is reserved: fleetform records \
                 there when it disabled the user (for `pruneAfter`); use another key",
                "f.yaml:5:43: the attribute `fleetform` is reserved: fleetform keeps its \
                 ownership marker there; use another key",
            ],
        ),
        (
            "missing version and fleet",
            "users: []\n".to_string(),
            vec![
                "f.yaml:1:1: the required key `version` is missing: add it",
                "f.yaml:1:1: the required key `fleet` is missing: add it",
            ],
        ),
    ];
    for (name, text, want) in table {
        assert_eq!(problems(&text), want, "case: {name}");
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "URL" => Some("https://traccar.example.com".into()),
        "PHONE" => Some("+43 664 1".into()),
        "SECRET" => Some("hunter2-secret".into()),
        "BAD_EMAIL" => Some("not-an-email-hunter3".into()),
        "PRUNE" => Some("sometimes-hunter4".into()),
        "ONE" => Some("1".into()),
        _ => None,
    }
}

fn parse_env(text: &str) -> Result<Loaded, Vec<String>> {
    parse_many(&[("f.yaml".into(), text.into())], &env)
        .map_err(|p| p.0.iter().map(ToString::to_string).collect())
}

#[test]
fn env_substitution_table() {
    let ok = parse_env(&format!(
        "{HEAD}server: {{ url: \"${{URL}}\" }}\nusers:\n  - email: a@x.test\n    \
         phone: ${{PHONE}}\n    name: \"$${{NOT}} a var\"\n    \
         attributes: {{ token: \"${{SECRET}}\", \"${{KEY}}\": 1 }}\n"
    ))
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        ok.server_url.as_deref(),
        Some("https://traccar.example.com")
    );
    let user = &ok.desired.users[&UserKey::new("a@x.test")];
    use crate::model::Field;
    assert_eq!(user.fields[&Field::Phone], Value::Text("+43 664 1".into()));
    assert_eq!(
        user.fields[&Field::Name],
        Value::Text("${NOT} a var".into())
    );
    assert_eq!(
        user.fields[&Field::Attribute("token".into())],
        Value::Text("hunter2-secret".into())
    );
    // Keys are never substituted.
    assert_eq!(
        user.fields[&Field::Attribute("${KEY}".into())],
        Value::Int(1)
    );

    let table: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "a missing variable is located and named",
            format!("{HEAD}users:\n  - email: a@x.test\n    name: \"Max ${{NOPE}}\"\n"),
            vec![
                "f.yaml:5:11: the environment variable NOPE is not set (used as `${NOPE}`): set \
                 it, or write `$${` for a literal `${`",
            ],
        ),
        (
            "substituted values are never echoed",
            format!("{HEAD}prune: ${{PRUNE}}\nusers:\n  - email: \"${{BAD_EMAIL}}\"\n"),
            vec![
                "f.yaml:3:8: `prune`: `${PRUNE}` is not allowed here: use one of delete, \
                 disable, keep",
                "f.yaml:5:12: invalid email \"${BAD_EMAIL}\": an email needs an `@`",
            ],
        ),
        (
            "values too short to be secrets do not garble messages",
            format!("{HEAD}users:\n  - email: a@x.test\n    name: ${{ONE}}\n  - email: a@x.test\n"),
            vec![
                "f.yaml:6:12: the user a@x.test is listed twice (first at f.yaml:4:12); emails \
                 match case-insensitively: keep one entry",
            ],
        ),
        (
            "a substituted value inside a longer one",
            format!("{HEAD}server:\n  url: \"ftp://${{SECRET}}@host\"\n"),
            vec![
                "f.yaml:4:8: invalid server url \"ftp://${SECRET}@host\": it must start with \
                 http:// or https://",
            ],
        ),
    ];
    for (name, text, want) in table {
        let got = parse_env(&text).map(|l| format!("{l:?}"));
        let got = got.expect_err(name);
        assert_eq!(got, want, "case: {name}");
        for line in &got {
            assert!(!line.contains("hunter"), "case {name} leaks: {line}");
        }
    }
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

fn merge(list: &[(&str, &str)]) -> Result<Loaded, Vec<String>> {
    parse_many(&files(list), &|_| None).map_err(|p| p.0.iter().map(ToString::to_string).collect())
}

#[test]
fn several_files_merge() {
    let loaded = merge(&[
        (
            "a.yaml",
            "version: 1\nfleet: acme\nprune: disable\nroles:\n  rider: { readonly: true }\n",
        ),
        (
            "b.yaml",
            "fleet: acme\nprune: disable\nusers:\n  - email: b@x.test\n    role: rider\n",
        ),
        (
            "c.yaml",
            "users:\n  - email: c@x.test\nroles:\n  guest: { readonly: true }\n",
        ),
    ])
    .unwrap_or_else(|e| panic!("{e:?}"));
    let d = &loaded.desired;
    assert_eq!(d.fleet, "acme");
    assert_eq!(d.prune, Prune::Disable);
    assert_eq!(loaded.source, "a.yaml, b.yaml, c.yaml");
    let b = &d.users[&UserKey::new("b@x.test")];
    assert_eq!(b.origin.as_deref(), Some("b.yaml:4:5"));
    assert_eq!(
        b.fields[&crate::model::Field::Readonly],
        Value::Bool(true),
        "a role from another file"
    );
    assert_eq!(
        d.users[&UserKey::new("c@x.test")].origin.as_deref(),
        Some("c.yaml:2:5")
    );
}

#[test]
fn several_files_problems_table() {
    type Files = Vec<(&'static str, &'static str)>;
    let table: Vec<(&str, Files, Vec<&str>)> = vec![
        (
            "conflicting top-level values name both places",
            vec![
                ("a.yaml", "version: 1\nfleet: acme\nmanager: m@x.test\n"),
                ("b.yaml", "fleet: other\nmanager: M@X.test\nprune: keep\n"),
                (
                    "c.yaml",
                    "prune: disable\nsafety: { allowRemoveAll: true }\n",
                ),
                ("d.yaml", "safety: { allowRemoveAll: false }\n"),
            ],
            vec![
                "b.yaml:1:8: `fleet` is \"other\" here but \"acme\" at a.yaml:2:8: merged fleet \
                 files must agree; give it in one file only",
                "c.yaml:1:8: `prune` is disable here but keep at b.yaml:3:8: merged fleet files \
                 must agree; give it in one file only",
                "d.yaml:1:9: `safety` is a different `safety:` here but a different `safety:` \
                 at c.yaml:2:9: merged fleet files must agree; give it in one file only",
            ],
        ),
        (
            "no file gives the fleet",
            vec![("a.yaml", "version: 1\n"), ("b.yaml", "users: []\n")],
            vec![
                "a.yaml: none of the merged fleet files gives `fleet`: add `fleet: <name>` to \
                 one of them",
            ],
        ),
        (
            "a user or role defined twice names both places",
            vec![
                (
                    "a.yaml",
                    "version: 1\nfleet: acme\nroles:\n  r: {}\nusers:\n  - email: x@y.test\n",
                ),
                ("b.yaml", "roles:\n  r: {}\nusers:\n  - email: X@Y.test\n"),
            ],
            vec![
                "b.yaml:2:3: the role `r` is defined twice (first at a.yaml:4:3): keep one \
                 definition",
                "b.yaml:4:12: the user x@y.test is listed twice (first at a.yaml:6:12); emails \
                 match case-insensitively: keep one entry",
            ],
        ),
        (
            "every file's problems at once",
            vec![
                ("a.yaml", "version: 1\nfleet: acme\nusers: [\n"),
                ("b.yaml", "users:\n  - email: nope\n"),
            ],
            vec!["b.yaml:2:12: invalid email \"nope\": an email needs an `@`"],
        ),
    ];
    for (name, list, want) in table {
        let got = merge(&list).map(|l| format!("{l:?}")).expect_err(name);
        // The syntax error's wording is serde-saphyr's: check only that it is there, first.
        let got: Vec<String> = if name == "every file's problems at once" {
            assert!(got[0].starts_with("a.yaml:"), "{got:?}");
            got[1..].to_vec()
        } else {
            got
        };
        assert_eq!(got, want, "case: {name}");
    }
}

#[test]
fn load_many_expands_directories_and_reports_unreadable_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = dir.path().join("fleet.d");
    std::fs::create_dir(&fleet).expect("mkdir");
    std::fs::write(fleet.join("10-users.yml"), "users:\n  - email: a@x.test\n").expect("write");
    std::fs::write(fleet.join("00-base.yaml"), "version: 1\nfleet: acme\n").expect("write");
    std::fs::write(fleet.join("README.md"), "not yaml").expect("write");
    let extra = dir.path().join("extra.yaml");
    std::fs::write(&extra, "users:\n  - email: b@x.test\n").expect("write");

    std::fs::write(fleet.join(".swap.yaml"), "not: [valid").expect("write");
    let loaded = load_many(&[fleet.clone(), extra.clone(), fleet.join("00-base.yaml")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.desired.users.len(), 2);
    let names: Vec<String> = loaded.source.split(", ").map(str::to_string).collect();
    assert!(names[0].ends_with("00-base.yaml"), "{names:?}");
    assert!(names[1].ends_with("10-users.yml"), "{names:?}");
    assert!(names[2].ends_with("extra.yaml"), "{names:?}");
    assert_eq!(
        names.len(),
        3,
        "hidden files skipped, each file once: {names:?}"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let missing = dir.path().join("missing.yaml");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "version: 1\nfleet: acme\nusers:\n  - email: nope\n").expect("write");
    let problems = load_many(&[empty.clone(), missing.clone(), bad.clone()]).expect_err("fails");
    let lines: Vec<String> = problems.0.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].contains("holds no *.yaml or *.yml"), "{lines:?}");
    assert!(lines[1].contains("can't read the fleet file"), "{lines:?}");
    assert!(lines[2].contains("invalid email \"nope\""), "{lines:?}");
}

#[test]
fn the_split_example_merges() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/split");
    let loaded = load_many(&[dir]).unwrap_or_else(|e| panic!("{e}"));
    let d = &loaded.desired;
    assert_eq!(d.fleet, "split-example");
    assert_eq!(d.users.len(), 3);
    assert_eq!(d.prune_after, Some(TimeDelta::days(30)));
    assert_eq!(d.safety.max_removal_percent, 10);
    let carla = &d.users[&UserKey::new("carla@graz.example")];
    assert!(
        carla
            .origin
            .as_deref()
            .is_some_and(|o| o.ends_with("20-graz.yaml:6:5")),
        "{:?}",
        carla.origin
    );
}
