//! The committed CRD is what `operator crd` prints, and the chart ships the same file.

use operator::crd::{FlashSale, crd_yaml};

use crate::helpers::repo_root;

#[test]
fn the_committed_crd_is_what_the_types_generate() {
    let generated = crd_yaml().unwrap();
    for path in [
        "crds/flashsale.yaml",
        "charts/booking-rush/crds/flashsale.yaml",
    ] {
        let committed = std::fs::read_to_string(repo_root().join(path)).unwrap();
        assert_eq!(committed, generated, "{path} is stale: run `make crd`");
    }
}

#[test]
fn the_crd_is_namespaced_with_short_name_scale_and_status() {
    use kube::CustomResourceExt;
    let crd = FlashSale::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("flashsales.booking-rush.dev")
    );
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["fs".to_owned()]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    let subresources = version.subresources.as_ref().unwrap();
    assert!(subresources.status.is_some());
    let scale = subresources.scale.as_ref().unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.booking.replicas");
    assert_eq!(scale.status_replicas_path, ".status.bookingReplicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        ["Phase", "Ready", "Sold", "Booking", "Starts", "Age"]
    );
}
