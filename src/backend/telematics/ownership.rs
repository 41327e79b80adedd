//! Ownership without a state file: the DeviceToken fleetform registers a user with
//! (`CustomToken`) carries the proof that this fleet registered it. Pure: hashing only.
//!
//! Design. The service lets a registration choose the new user's DeviceToken (`CustomToken`,
//! a UUID, notes §5.1), and a DeviceToken never changes afterwards (no API writes it). So
//! fleetform registers every user with a token of its own making, a UUID of version 8 (RFC
//! 9562, "custom") laid out as:
//!
//! ```text
//! bytes 0..6   48 bits  fleet proof:     SHA-256("fleetform/telematics/fleet\0" instance \0 fleet \0 clientId)
//! byte  6      4 bits   version 8,  4 random bits
//! byte  7      8 bits   fleetform tag:   SHA-256("fleetform/telematics/tag\0" instance \0 clientId), 22 bits of it
//! byte  8      2 bits   variant 0b10, 6 tag bits
//! byte  9      8 bits   tag
//! bytes 10..16 48 bits  random
//! ```
//!
//! Reading a user back, fleetform recomputes both hashes from the instance, the fleet and the
//! user's current ClientId: the fleet proof says "registered by this fleet" (the user may be
//! pruned), the tag alone "registered by another fleetform fleet" (never touched; a file that
//! names it is refused), neither "registered by someone else" (managed only while the file
//! names it, never pruned). Binding both to the ClientId means a user whose ClientId was
//! edited by hand is no longer provably this fleet's, so it is never pruned by mistake.
//!
//! Why this shape:
//! - Forging the proof needs a registration with a chosen token, which needs the instance key:
//!   the same trust as the registration itself, as Traccar's marker needs the right to edit.
//! - 52 random bits keep tokens unguessable: with the instance key a user logs in with its
//!   DeviceToken alone (notes §2), and apps may ship the instance key, so a token computable
//!   from the fleet name and a clientId would be a login anyone could compute.
//! - A lost registration answer is resolved by looking for the exact token that was sent
//!   (`write.rs`), and a second registration with the same token cannot create a second user
//!   with it (the service keys users by DeviceToken; whether it refuses or answers with the
//!   existing user is UNVERIFIED, and either is safe).
//! - The instance is hashed in, so the same fleet and clientId in two instances (or two
//!   companies choosing the same fleet name) never share a token.
//! - False positives: a foreign token (the service makes version 4 UUIDs) never has version 8;
//!   a version-8 token of another origin matches the tag with odds 2^-22 and the fleet proof
//!   with odds 2^-48.

use rand::RngExt;
use sha2::{Digest, Sha256};

/// Who registered a user, as its DeviceToken proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registrant {
    /// This fleet (the proof matches for this instance, fleet and ClientId).
    ThisFleet,
    /// A fleetform fleet, not this one.
    AnotherFleet,
    /// Not fleetform, or not provably (a token the service made, a ClientId edited by hand).
    Unknown,
}

fn hash(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0u8]);
        }
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

fn fleet_proof(instance: &str, fleet: &str, client_id: &str) -> [u8; 32] {
    hash(&[
        "fleetform/telematics/fleet",
        &instance.trim().to_lowercase(),
        fleet,
        client_id.trim(),
    ])
}

fn tag(instance: &str, client_id: &str) -> [u8; 32] {
    hash(&[
        "fleetform/telematics/tag",
        &instance.trim().to_lowercase(),
        client_id.trim(),
    ])
}

/// The 16 bytes of a token, from the proofs and 52 random bits.
fn assemble(fleet: &[u8; 32], tag: &[u8; 32], random: [u8; 7]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&fleet[..6]);
    b[6] = 0x80 | (random[0] & 0x0f);
    b[7] = tag[0];
    b[8] = 0x80 | (tag[1] & 0x3f);
    b[9] = tag[2];
    b[10..16].copy_from_slice(&random[1..7]);
    b
}

fn format(b: &[u8; 16]) -> String {
    let hex = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A fresh DeviceToken for registering `client_id` into `instance` for `fleet`.
pub fn new_token(instance: &str, fleet: &str, client_id: &str) -> String {
    let random: [u8; 7] = rand::rng().random();
    format(&assemble(
        &fleet_proof(instance, fleet, client_id),
        &tag(instance, client_id),
        random,
    ))
}

/// Who registered the user with DeviceToken `token` and ClientId `client_id` in `instance`.
pub fn registrant(token: &str, instance: &str, fleet: &str, client_id: &str) -> Registrant {
    let hex: String = token.trim().chars().filter(|c| *c != '-').collect();
    let Ok(bytes) = hex::decode(hex) else {
        return Registrant::Unknown;
    };
    let Ok(b) = <[u8; 16]>::try_from(bytes.as_slice()) else {
        return Registrant::Unknown;
    };
    let t = tag(instance, client_id);
    let tagged = b[6] >> 4 == 8
        && b[8] >> 6 == 0b10
        && b[7] == t[0]
        && b[8] & 0x3f == t[1] & 0x3f
        && b[9] == t[2];
    if !tagged {
        return Registrant::Unknown;
    }
    if b[..6] == fleet_proof(instance, fleet, client_id)[..6] {
        Registrant::ThisFleet
    } else {
        Registrant::AnotherFleet
    }
}

/// Whether two spellings of a DeviceToken are the same token (case and dashes aside).
pub fn same_token(a: &str, b: &str) -> bool {
    let norm = |t: &str| -> String {
        t.trim()
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCE: &str = "4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50";

    #[test]
    fn a_fresh_token_proves_its_fleet_and_nothing_else() {
        let token = new_token(INSTANCE, "acme", "drv-1");
        assert_eq!(token.len(), 36);
        assert_eq!(&token[14..15], "8", "version 8: {token}");
        assert!(matches!(&token[19..20], "8" | "9" | "a" | "b"), "{token}");
        assert_eq!(
            registrant(&token, INSTANCE, "acme", "drv-1"),
            Registrant::ThisFleet
        );
        // The instance is written in any case.
        assert_eq!(
            registrant(&token, &INSTANCE.to_uppercase(), "acme", "drv-1"),
            Registrant::ThisFleet
        );
        assert_eq!(
            registrant(&token.to_uppercase(), INSTANCE, "acme", "drv-1"),
            Registrant::ThisFleet
        );
        assert_eq!(
            registrant(&token, INSTANCE, "other", "drv-1"),
            Registrant::AnotherFleet
        );
        // A ClientId edited by hand, or another instance: not provably anyone's.
        assert_eq!(
            registrant(&token, INSTANCE, "acme", "drv-2"),
            Registrant::Unknown
        );
        assert_eq!(
            registrant(
                &token,
                "00000000-0000-4000-8000-000000000000",
                "acme",
                "drv-1"
            ),
            Registrant::Unknown
        );
    }

    #[test]
    fn tokens_are_random_beyond_the_proof() {
        let a = new_token(INSTANCE, "acme", "drv-1");
        let b = new_token(INSTANCE, "acme", "drv-1");
        assert_ne!(a, b);
        assert_eq!(a[..13], b[..13], "the fleet proof is the same");
    }

    #[test]
    fn tokens_the_service_makes_are_nobodys() {
        for token in [
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "not a uuid",
            "",
            "3fa85f64571745",
        ] {
            assert_eq!(
                registrant(token, INSTANCE, "acme", "drv-1"),
                Registrant::Unknown,
                "{token}"
            );
        }
    }

    #[test]
    fn the_layout_is_frozen() {
        // Tokens registered by earlier runs must keep proving their fleet.
        let random = [0xff, 1, 2, 3, 4, 5, 6];
        let token = format(&assemble(
            &fleet_proof(INSTANCE, "acme", "drv-1"),
            &tag(INSTANCE, "drv-1"),
            random,
        ));
        let fleet = hex::encode(&fleet_proof(INSTANCE, "acme", "drv-1")[..6]);
        let t = tag(INSTANCE, "drv-1");
        assert_eq!(&token[..8], &fleet[..8]);
        assert_eq!(&token[9..13], &fleet[8..12]);
        assert_eq!(&token[14..16], "8f");
        assert_eq!(&token[16..18], &hex::encode([t[0]]));
        assert_eq!(&token[24..], "010203040506");
        assert_eq!(
            registrant(&token, INSTANCE, "acme", "drv-1"),
            Registrant::ThisFleet
        );
        assert!(same_token(&token, &token.to_uppercase().replace('-', "")));
    }
}
