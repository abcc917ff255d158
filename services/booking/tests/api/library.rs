//! Booking's Redis function library in a real Redis.

use crate::helpers::redis;

#[tokio::test]
async fn booking_s_library_loads_into_redis_with_every_function() {
    let mut conn = redis().await;
    let library = booking::library::library();
    library.load(&mut conn).await.unwrap();
    let listed: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg(library.name())
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut strings = Vec::new();
    collect(&listed, &mut strings);
    for function in booking::library::FUNCTIONS {
        let name = format!("{}_{function}", library.name());
        let found = strings.iter().filter(|s| **s == name).count();
        assert_eq!(found, 1, "{name} in {strings:?}");
    }
}

/// Every string in a reply, depth first.
fn collect(values: &[redis::Value], out: &mut Vec<String>) {
    for value in values {
        match value {
            redis::Value::BulkString(bytes) => out.push(String::from_utf8_lossy(bytes).into()),
            redis::Value::SimpleString(s) => out.push(s.clone()),
            redis::Value::Array(items) => collect(items, out),
            _ => {}
        }
    }
}
