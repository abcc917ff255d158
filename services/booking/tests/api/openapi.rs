//! The served OpenAPI document is the committed one (regenerate with `make openapi`).

use booking::routes::ApiDoc;
use utoipa::OpenApi;

use crate::helpers::{World, body, spec};

#[tokio::test]
async fn the_committed_openapi_document_is_current_and_served() {
    let generated = ApiDoc::openapi().to_pretty_json().unwrap();
    let committed = include_str!("../../openapi.json");
    assert_eq!(
        committed.trim_end(),
        generated.trim_end(),
        "services/booking/openapi.json is stale: run `make openapi`"
    );
    let world = World::new(spec(1)).await;
    let app = world.spawn(&[]).await;
    let served = body(app.http.get(app.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(
        served,
        serde_json::from_str::<serde_json::Value>(&generated).unwrap()
    );
    assert!(served["paths"]["/api/v1/sales/{sale}/reservations"]["post"].is_object());
}
