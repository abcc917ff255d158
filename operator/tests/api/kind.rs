//! End to end on a real cluster (`make kind-up images deploy`, then
//! `cargo nextest run -p operator --run-ignored only`): a FlashSale becomes running workloads,
//! scales through its scale subresource, and deletion cleans up. It runs in the namespace the
//! chart was deployed to (`E2E_NAMESPACE`, default `booking-rush`), where the sale's Secrets are.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams},
};
use operator::crd::{FlashSale, Phase};
use serde_json::json;

use crate::testsupport::unique_sale;

fn namespace() -> String {
    std::env::var("E2E_NAMESPACE").unwrap_or_else(|_| "booking-rush".to_owned())
}

async fn eventually<T, F, Fut>(what: &str, seconds: u64, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test]
#[ignore = "needs a cluster with the chart deployed (make kind-up deploy)"]
async fn a_flashsale_runs_scales_and_cleans_up_on_a_real_cluster() {
    let client = Client::try_default().await.unwrap();
    let sales: Api<FlashSale> = Api::namespaced(client.clone(), &namespace());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace());
    let sale = unique_sale("e2e");
    let manifest = json!({
        "apiVersion": "booking-rush.dev/v1alpha1",
        "kind": "FlashSale",
        "metadata": { "name": sale },
        "spec": {
            "saleId": sale,
            "startsAt": "2020-01-01T00:00:00Z",
            "endsAt": "2099-01-01T00:00:00Z",
            "cleanupPolicy": "Delete",
            "booking": { "replicas": 1 },
            "payment": { "replicas": 1 },
            "zones": [{ "id": "floor", "seats": 50, "priceMinor": 1000, "currency": "EUR", "perUserCap": 2 }]
        }
    });
    sales
        .patch(
            &sale,
            &PatchParams::apply("e2e-test"),
            &Patch::Apply(&manifest),
        )
        .await
        .unwrap();

    let status = eventually("the sale to go live", 300, || async {
        let fs = sales.get(&sale).await.ok()?;
        let status = fs.status?;
        (status.phase == Phase::Live).then_some(status)
    })
    .await;
    assert_eq!(status.sold_of_capacity.as_deref(), Some("0/50"));
    let booking = deployments.get(&format!("{sale}-booking")).await.unwrap();
    let owner = &booking.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("FlashSale", sale.as_str())
    );

    // `kubectl scale fs/NAME --replicas=2` goes through the scale subresource.
    sales
        .patch_scale(
            &sale,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 2 } })),
        )
        .await
        .unwrap();
    eventually("the booking deployment to scale", 120, || async {
        let d = deployments.get(&format!("{sale}-booking")).await.ok()?;
        (d.spec?.replicas == Some(2)).then_some(())
    })
    .await;

    sales.delete(&sale, &DeleteParams::default()).await.unwrap();
    eventually("the FlashSale to be gone", 120, || async {
        sales.get_opt(&sale).await.ok()?.is_none().then_some(())
    })
    .await;
}
