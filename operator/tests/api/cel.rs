//! The CRD's CEL rules, evaluated offline (kube-cel) on good and bad objects, with `oldSelf` for
//! the transition rules, exactly as the API server would run them.

use kube::CustomResourceExt;
use operator::crd::FlashSale;
use serde_json::{Value, json};

use crate::helpers::repo_root;

fn schema() -> Value {
    let crd = FlashSale::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

fn sale() -> Value {
    json!({
        "apiVersion": "booking-rush.dev/v1alpha1",
        "kind": "FlashSale",
        "metadata": { "name": "spring" },
        "spec": {
            "saleId": "spring",
            "startsAt": "2030-03-01T10:00:00Z",
            "endsAt": "2030-03-01T12:00:00Z",
            "partitions": 3,
            "zones": [{ "id": "floor", "seats": 100, "priceMinor": 5000, "currency": "EUR", "perUserCap": 4 }]
        }
    })
}

/// The messages of the rules that fail.
fn failures(object: &Value, old: Option<&Value>) -> Vec<String> {
    match kube_cel::Validator::new().validate(&schema(), object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

#[test]
fn a_good_sale_passes_on_create_and_on_an_allowed_update() {
    let old = sale();
    assert_eq!(failures(&old, None), Vec::<String>::new());
    let mut new = sale();
    new["spec"]["partitions"] = json!(6);
    new["spec"]["zones"][0]["seats"] = json!(150);
    new["spec"]["endsAt"] = json!("2030-03-01T13:00:00Z");
    new["spec"]["booking"] = json!({ "replicas": 5 });
    assert_eq!(failures(&new, Some(&old)), Vec::<String>::new());
}

#[test]
fn the_end_must_come_after_the_start() {
    let mut bad = sale();
    bad["spec"]["endsAt"] = bad["spec"]["startsAt"].clone();
    assert_eq!(failures(&bad, None), ["endsAt must be after startsAt"]);
    bad["spec"]["endsAt"] = json!("2030-03-01T09:00:00+00:00");
    assert_eq!(failures(&bad, None), ["endsAt must be after startsAt"]);
}

#[test]
fn the_sale_id_cannot_change() {
    let old = sale();
    let mut new = sale();
    new["spec"]["saleId"] = json!("autumn");
    assert_eq!(failures(&new, Some(&old)), ["saleId is immutable"]);
}

#[test]
fn partitions_may_only_grow() {
    let old = sale();
    let mut new = sale();
    new["spec"]["partitions"] = json!(2);
    assert_eq!(failures(&new, Some(&old)), ["partitions may only grow"]);
}

#[test]
fn defaulted_partitions_compare_with_their_default() {
    // The API server applies the schema default (3) before the rules run.
    let mut old = sale();
    old["spec"].as_object_mut().unwrap().remove("partitions");
    let mut new = sale();
    new["spec"]["partitions"] = json!(1);
    assert_eq!(failures(&new, Some(&old)), ["partitions may only grow"]);
}

#[test]
fn autoscaling_bounds_must_be_ordered() {
    let mut bad = sale();
    bad["spec"]["payment"] =
        json!({ "autoscaling": { "enabled": true, "minReplicas": 8, "maxReplicas": 4 } });
    assert_eq!(
        failures(&bad, None),
        ["minReplicas must not exceed maxReplicas"]
    );
}

#[test]
fn every_sample_flashsale_passes_the_rules() {
    let mut checked = 0;
    for dir in ["charts/booking-rush/examples", "operator/examples"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let object: Value = serde_norway::from_str(&text).unwrap();
            assert_eq!(object["kind"], "FlashSale", "{}", path.display());
            assert_eq!(
                failures(&object, None),
                Vec::<String>::new(),
                "{}",
                path.display()
            );
            let typed: FlashSale = serde_json::from_value(object).unwrap();
            assert!(
                operator::controller::validate(&typed).is_ok(),
                "{}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} samples found");
}
