//! The committed OpenAPI document is current (regenerate with `make openapi`).

use ticket::routes::ApiDoc;
use utoipa::OpenApi;

#[test]
fn the_committed_openapi_document_is_current() {
    let generated = ApiDoc::openapi().to_pretty_json().unwrap();
    assert_eq!(
        include_str!("../../openapi.json").trim_end(),
        generated.trim_end(),
        "services/ticket/openapi.json is stale: run `make openapi`"
    );
}
