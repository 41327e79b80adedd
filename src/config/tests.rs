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
