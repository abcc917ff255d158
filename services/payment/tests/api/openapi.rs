//! The served OpenAPI document is the committed one (regenerate with `make openapi`).

use payment::routes::ApiDoc;
use utoipa::OpenApi;

use crate::helpers::{World, body, spec};

#[tokio::test]
async fn the_committed_openapi_document_is_current_and_served() {
    let generated = ApiDoc::openapi().to_pretty_json().unwrap();
    let committed = include_str!("../../openapi.json");
    assert_eq!(
        committed.trim_end(),
        generated.trim_end(),
        "services/payment/openapi.json is stale: run `make openapi`"
    );
    let world = World::new(spec(1)).await;
    let served = body(
        world
            .http
            .get(format!("{}/openapi.json", world.payment_base()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        served,
        serde_json::from_str::<serde_json::Value>(&generated).unwrap()
    );
    assert!(served["paths"]["/api/v1/sales/{sale}/reservations/{id}/payment"]["post"].is_object());
}
