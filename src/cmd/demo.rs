//! `fleetform demo`: starts the sandbox on an ephemeral loopback port, seeds a demo fleet (an
//! administrator, the manager account `fleet@acme.example`, a dozen devices in the groups
//! Vienna and Graz) over the Traccar API, then walks through plan, apply and a no-change re-plan
//! of a fleet file, one sentence per step. It writes only to the sandbox it started. Its default
//! fleet file, fleet.yaml.example, is built into the binary, so the demo runs from any
//! directory and after `cargo install`.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use serde_json::{Value as Json, json};
use traccar_sandbox::{Sandbox, SandboxConfig};

use super::{Io, load};
use crate::apply;
use crate::backend::traccar::api::Credentials;
use crate::backend::traccar::{Options, TraccarBackend};
use crate::config::{self, Loaded};
use crate::core::secret::Secret;
use crate::exit;
use crate::views::render::Format;

pub const DEMO_ADMIN: &str = "admin@demo.example";
pub const DEMO_MANAGER: &str = "fleet@acme.example";

/// What `seed` created, for callers that want to log in.
pub struct Seeded {
    pub admin: Credentials,
    pub manager: Credentials,
}

fn random_secret() -> Secret {
    use rand::RngExt;
    let bytes: [u8; 16] = rand::rng().random();
    Secret::new(hex::encode(bytes))
}

/// Seeds a fresh sandbox (or any empty Traccar server) with the demo fleet, through the API.
pub async fn seed(url: &str) -> anyhow::Result<Seeded> {
    let http = reqwest::Client::new();
    let admin_pw = random_secret();
    let manager_pw = random_secret();
    let post = |path: &str, body: Json, auth: Option<(&str, &Secret)>| {
        let mut req = http.post(format!("{url}{path}")).json(&body);
        if let Some((user, pw)) = auth {
            req = req.basic_auth(user, Some(pw.expose()));
        }
        let path = path.to_string();
        async move {
            let resp = req.send().await.with_context(|| format!("POST {path}"))?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                anyhow::bail!(
                    "POST {path} -> {}: {}",
                    status.as_u16(),
                    text.lines().next().unwrap_or("")
                );
            }
            Ok::<Json, anyhow::Error>(serde_json::from_str(&text).unwrap_or(Json::Null))
        }
    };
    // A fresh server makes its first user an administrator.
    post(
        "/api/users",
        json!({"name": "Demo Admin", "email": DEMO_ADMIN, "password": admin_pw.expose()}),
        None,
    )
    .await?;
    let admin = Some((DEMO_ADMIN, &admin_pw));
    let manager = post(
        "/api/users",
        json!({"name": "ACME Bikes (billing)", "email": DEMO_MANAGER, "password": manager_pw.expose(),
               "userLimit": -1, "deviceLimit": -1}),
        admin,
    )
    .await?;
    let manager_id = manager["id"].as_i64().context("manager has no id")?;
    let mut group_ids = Vec::new();
    for name in ["Vienna", "Graz"] {
        let g = post("/api/groups", json!({"name": name}), admin).await?;
        let gid = g["id"].as_i64().context("group has no id")?;
        // The billing account sees its groups, so it may put its devices in them.
        post(
            "/api/permissions",
            json!({"userId": manager_id, "groupId": gid}),
            admin,
        )
        .await?;
        group_ids.push(gid);
    }
    // Devices are created by the billing account, as fleet vendors do.
    for n in 101..=112 {
        let group = group_ids[usize::from(n > 106)];
        post(
            "/api/devices",
            json!({"name": format!("Bike {n}"), "uniqueId": format!("BT-000{n}"), "groupId": group}),
            Some((DEMO_MANAGER, &manager_pw)),
        )
        .await?;
    }
    Ok(Seeded {
        admin: Credentials::Password {
            email: DEMO_ADMIN.into(),
            password: admin_pw,
        },
        manager: Credentials::Password {
            email: DEMO_MANAGER.into(),
            password: manager_pw,
        },
    })
}

/// The repository's fleet.yaml.example, as built into the binary.
pub const EXAMPLE: &str = include_str!("../../fleet.yaml.example");

/// The demo's fleet: `file`, or the built-in example.
fn demo_fleet(file: Option<&Path>) -> anyhow::Result<(Loaded, String)> {
    match file {
        Some(path) => Ok((load(path)?, path.display().to_string())),
        None => {
            let loaded = config::parse(EXAMPLE, "fleet.yaml.example (built in)")
                .map_err(|problems| anyhow::anyhow!("{problems}"))?;
            Ok((loaded, "fleet.yaml.example".into()))
        }
    }
}

pub async fn run(file: Option<&Path>, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let (loaded, file) = demo_fleet(file)?;
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let sandbox = Sandbox::start(SandboxConfig::default(), listen).await?;
    let url = sandbox.url();
    writeln!(
        io.out,
        "1. Started a Traccar sandbox at {url} and seeded it: an administrator, the billing account {DEMO_MANAGER}, and devices BT-000101..BT-000112 in the groups Vienna and Graz."
    )?;
    let seeded = seed(&url).await?;
    let backend = TraccarBackend::connect(&url, &seeded.admin, Options::default()).await?;

    writeln!(
        io.out,
        "\n2. `fleetform plan -f {file}` reads the server and shows what would change; nothing is written yet:\n"
    )?;
    let plan = crate::make_plan(&backend, &loaded.desired).await?;
    crate::render(&plan, Format::Text, io.color, io.out)?;

    writeln!(
        io.out,
        "\n3. `fleetform apply` runs that plan: links are removed before any access is granted, so a run that stops half way leaves less access, never more.\n"
    )?;
    let report = apply::apply(&backend, &plan, io.out).await;
    report.write_to(io.out)?;
    if !report.is_success() {
        anyhow::bail!("the demo apply did not finish");
    }

    writeln!(
        io.out,
        "\n4. Planning again finds nothing to do: the server now matches the file.\n"
    )?;
    let again = crate::make_plan(&backend, &loaded.desired).await?;
    crate::render(&again, Format::Text, io.color, io.out)?;
    writeln!(
        io.out,
        "\nTry it yourself: `fleetform sandbox`, then point TRACCAR_URL at it. The sandbox stops now."
    )?;
    sandbox.shutdown().await;
    Ok(if again.actions.is_empty() {
        exit::OK
    } else {
        exit::ERROR
    })
}
