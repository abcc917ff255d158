//! Lua function libraries against a real Redis: loaded on first use, loaded again after Redis
//! lost them, versions side by side, and errors that are the function's own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

use std::sync::Arc;

use redis::aio::ConnectionManager;
use shared::{
    config::Env,
    redis::{Library, RedisConfig},
};
use uuid::Uuid;

async fn redis() -> ConnectionManager {
    RedisConfig::from_env(&Env::default())
        .expect("Redis settings")
        .connect()
        .await
        .expect("Redis")
}

/// A library of its own for each test (the comment makes its code, so its name, unique), with
/// an `echo` function that answers its key and argument with a marker of its version.
fn library(version: &str) -> Arc<Library> {
    let code = format!(
        "-- {}\nredis.register_function(LIBRARY .. '_echo', function(keys, args)\n  return {{ '{version}', keys[1], args[1] }}\nend)\nredis.register_function(LIBRARY .. '_fail', function(keys, args)\n  return redis.error_reply('BAD_THING happened')\nend)\n",
        Uuid::new_v4()
    );
    Library::new("test", &code)
}

async fn loaded(conn: &mut ConnectionManager, library: &Library) -> bool {
    let listed: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg(library.name())
        .query_async(conn)
        .await
        .unwrap();
    !listed.is_empty()
}

async fn delete(conn: &mut ConnectionManager, library: &Library) {
    let _: () = redis::cmd("FUNCTION")
        .arg("DELETE")
        .arg(library.name())
        .query_async(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_function_is_loaded_on_its_first_call_and_again_after_redis_lost_it() {
    let mut conn = redis().await;
    let library = library("v1");
    let echo = library.function("echo");
    assert!(!loaded(&mut conn, &library).await);

    let answer: Vec<String> = echo
        .key("k")
        .arg("a")
        .invoke_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(answer, ["v1", "k", "a"]);
    assert!(loaded(&mut conn, &library).await);

    delete(&mut conn, &library).await;
    assert!(!loaded(&mut conn, &library).await);
    let answer: Vec<String> = echo
        .key("k2")
        .arg("b")
        .invoke_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(answer, ["v1", "k2", "b"]);
    assert!(loaded(&mut conn, &library).await);
    delete(&mut conn, &library).await;
}

#[tokio::test]
async fn loading_a_library_that_is_already_there_keeps_it() {
    let mut conn = redis().await;
    let library = library("v1");
    library.load(&mut conn).await.unwrap();
    library.load(&mut conn).await.unwrap();
    let answer: Vec<String> = library
        .function("echo")
        .key("k")
        .arg("a")
        .invoke_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(answer[0], "v1");
    delete(&mut conn, &library).await;
}

#[tokio::test]
async fn two_versions_of_a_library_have_their_own_names_and_functions() {
    let mut conn = redis().await;
    let (old, new) = (library("old"), library("new"));
    assert_ne!(old.name(), new.name());
    assert!(old.name().starts_with("test_") && new.name().starts_with("test_"));
    let old_echo = old.function("echo");
    let new_echo = new.function("echo");
    assert_eq!(old_echo.name(), format!("{}_echo", old.name()));
    for _ in 0..2 {
        let a: Vec<String> = old_echo.key("k").invoke_async(&mut conn).await.unwrap();
        let b: Vec<String> = new_echo.key("k").invoke_async(&mut conn).await.unwrap();
        assert_eq!((a[0].as_str(), b[0].as_str()), ("old", "new"));
    }
    delete(&mut conn, &old).await;
    delete(&mut conn, &new).await;
}

#[tokio::test]
async fn an_error_of_the_function_itself_comes_back_as_it_is() {
    let mut conn = redis().await;
    let library = library("v1");
    let err = library
        .function("fail")
        .key("k")
        .invoke_async::<String>(&mut conn)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("BAD_THING"), "{err}");
    assert!(loaded(&mut conn, &library).await);
    delete(&mut conn, &library).await;
}

#[tokio::test]
async fn code_redis_cannot_load_is_an_error_naming_what_is_wrong() {
    let mut conn = redis().await;
    let library = Library::new("test", &format!("-- {}\nthis is not lua\n", Uuid::new_v4()));
    let err = library
        .function("echo")
        .key("k")
        .invoke_async::<String>(&mut conn)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Error compiling function"),
        "{err}"
    );
    assert!(!loaded(&mut conn, &library).await);
}

#[tokio::test]
async fn a_library_whose_function_name_another_library_owns_is_refused() {
    let mut conn = redis().await;
    let function = format!("clash_{}", Uuid::new_v4().simple());
    let code = |n: u8| {
        format!(
            "-- {n}\nredis.register_function('{function}', function(keys, args) return {n} end)\n"
        )
    };
    let (first, second) = (
        Library::new("test", &code(1)),
        Library::new("test", &code(2)),
    );
    first.load(&mut conn).await.unwrap();
    let err = second.load(&mut conn).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(loaded(&mut conn, &first).await);
    assert!(!loaded(&mut conn, &second).await);
    delete(&mut conn, &first).await;
}
