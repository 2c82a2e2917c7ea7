//! Creates and disables per second through the SCIM connector, beside a bare `reqwest`
//! loop making the same two calls (POST the user, PATCH `active` to false) against the
//! same scim2-server, in one run.
//!
//!   scripts/bench-scim.sh                      # 300 users each way
//!   TURNSTILE_BENCH_USERS=1000 scripts/bench-scim.sh

// Only the peers' settings are used here.
#[allow(dead_code)]
mod common;

use serde_json::json;
use std::time::Instant;
use turnstile::connectors::Connector;
use turnstile::connectors::scim::{ENTERPRISE, ScimConfig, ScimConnector, USER};
use turnstile::plan::{Action, Change};

fn person(number: &str) -> turnstile::hr::Person {
    turnstile_core::testkit::named(
        number,
        "Bench",
        &format!("User{number}"),
        vec![turnstile_core::testkit::assignment(
            &format!("{number}-1"),
            turnstile::hr::AssignmentStatus::ActiveAssignment,
            "Admin and Clerical",
            "Administrator",
            "Estates",
            "2020-01-01",
            None,
        )],
    )
}

fn change(number: &str, account: Option<String>, action: Action) -> Change {
    Change {
        system: "rota".into(),
        employee_number: number.into(),
        account,
        action,
        rule: "bench".into(),
        reason: "bench".into(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let peers = common::peers();
    let (url, token) = (peers["SCIM_URL"].clone(), peers["SCIM_TOKEN"].clone());
    let n = common::env_or("TURNSTILE_BENCH_USERS", 300);
    let run = std::process::id();

    // Bare reqwest: POST the user, PATCH it inactive.
    let http = reqwest::Client::new();
    let started = Instant::now();
    for i in 0..n {
        let number = format!("B{run}r{i}");
        let created: serde_json::Value = http
            .post(format!("{url}/Users"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(
                json!({"schemas": [USER, ENTERPRISE], "userName": format!("raw.{number}"), "active": false,
                       ENTERPRISE: {"employeeNumber": number}})
                .to_string(),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap();
        let status = http
            .patch(format!("{url}/Users/{id}"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "active", "value": false}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }
    let bare = n as f64 / started.elapsed().as_secs_f64();

    // The connector: Create, then Disable, as the engine hands them over.
    let config: ScimConfig =
        toml::from_str(&format!("url = \"{url}\"\ntoken = \"{token}\"")).unwrap();
    let c = ScimConnector::new("rota", config, false).unwrap();
    let started = Instant::now();
    for i in 0..n {
        let number = format!("B{run}c{i}");
        let p = person(&number);
        let name = match c
            .apply(&p, &change(&number, None, Action::Create))
            .await
            .unwrap()
        {
            turnstile::connectors::Applied::Done { account } => account,
            other => panic!("{other:?}"),
        };
        c.apply(&p, &change(&number, name, Action::Disable))
            .await
            .unwrap();
    }
    let ours = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "scim: {n} users created and disabled: turnstile {ours:.1}/s, bare reqwest {bare:.1}/s, ratio {:.2}",
        ours / bare
    );
    common::result(
        &format!("SCIM: {n} users created and disabled on scim2-server"),
        ours,
        bare,
        "users/s",
        "bare sequential reqwest",
        false,
    );
}
