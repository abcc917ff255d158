//! The `operator` binary: `crd`, `provision -f`, `deprovision --sale`, and its errors.

use std::process::{Command, Output};

use crate::{
    helpers::{repo_root, spec},
    testsupport::{PrivateBroker, backend_with_kafka, unique_sale},
};

fn operator(args: &[&str]) -> Output {
    operator_with(args, &[])
}

fn operator_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn crd_prints_the_committed_crd() {
    let out = operator(&["crd"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let committed = std::fs::read_to_string(repo_root().join("crds/flashsale.yaml")).unwrap();
    assert_eq!(text(&out.stdout), committed);
}

#[tokio::test]
async fn provision_then_deprovision_a_flashsale_manifest() {
    let sale = unique_sale("cli");
    let dir = std::env::temp_dir().join(&sale);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sale.yaml");
    let manifest = format!(
        "apiVersion: booking-rush.dev/v1alpha1\nkind: FlashSale\nmetadata: {{ name: {sale} }}\nspec:\n  saleId: {sale}\n  startsAt: 2020-01-01T00:00:00Z\n  endsAt: 2099-01-01T00:00:00Z\n  partitions: 1\n  booking: {{ replicas: 3 }}\n  zones:\n    - {{ id: floor, seats: 25, priceMinor: 100, currency: EUR, perUserCap: 2 }}\n"
    );
    std::fs::write(&file, manifest).unwrap();

    // deprovision deletes topics, which on tansu deletes all of them: use a broker of our own.
    let broker = PrivateBroker::start();
    let kafka = [("KAFKA_BROKERS", broker.brokers.as_str())];
    let out = operator_with(&["provision", "-f", file.to_str().unwrap()], &kafka);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("sale {sale} provisioned")),
        "{stdout}"
    );
    assert!(
        stdout.contains("floor: 25 seats, 25 available, 0 held, 0 sold"),
        "{stdout}"
    );
    let backend = backend_with_kafka(&broker.brokers);
    let zones = backend.inventory(&spec(&sale, 25, 1)).await.unwrap();
    assert_eq!(zones[0].capacity, 25);

    let out = operator_with(&["deprovision", "--sale", &sale], &kafka);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        backend
            .inventory(&spec(&sale, 25, 1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        backend
            .topic_partitions(&spec(&sale, 25, 1).sale_id)
            .await
            .unwrap()
            .is_empty()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_bad_manifest_fails_naming_the_problem() {
    let dir = std::env::temp_dir().join(unique_sale("bad"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sale.yaml");
    std::fs::write(
        &file,
        "saleId: Bad_Id\nstartsAt: 2020-01-01T00:00:00Z\nendsAt: 2099-01-01T00:00:00Z\nzones: []\n",
    )
    .unwrap();
    let out = operator(&["provision", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("sale id must be"),
        "{}",
        text(&out.stderr)
    );

    let out = operator(&["provision", "-f", "/nonexistent/sale.yaml"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("reading /nonexistent/sale.yaml"),
        "{}",
        text(&out.stderr)
    );

    let out = operator(&["deprovision", "--sale", "NOT VALID"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("sale id must be"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_bad_setting_names_its_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["deprovision", "--sale", "demo"])
        .env("OPERATOR_BACKEND_TIMEOUT_MS", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("OPERATOR_BACKEND_TIMEOUT_MS"),
        "{}",
        text(&out.stderr)
    );
}
