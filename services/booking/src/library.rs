//! Booking's Redis function library: every inventory and queue script, loaded into Redis once.
//!
//! Each script was an `EVALSHA` that ran the shared helpers' text on every call; as functions of
//! one library (`FCALL`) the helpers are defined once, at load, and a reserve costs Redis about a
//! twentieth less (`tests/load/optimisations.md`). Each script's body keeps its form: this module
//! wraps each one into a registered function, after `lib.lua`, the library's head.

use std::sync::{Arc, LazyLock};

use shared::redis::Library;

/// Wraps a script file into `register('<name>', function() <script> end)`.
macro_rules! function {
    ($dir:literal, $name:literal) => {
        concat!(
            "\nregister('",
            $name,
            "', function()\n",
            include_str!(concat!($dir, "/lua/", $name, ".lua")),
            "\nend)\n"
        )
    };
}

/// Defines [`CODE`] and [`FUNCTIONS`] from one list of `directory: [script, …]`.
macro_rules! library {
    ($($dir:literal: [$($name:literal),+ $(,)?]),+ $(,)?) => {
        /// The library's Lua code, without the header `Library` adds.
        pub const CODE: &str = concat!(
            include_str!("inventory/lua/lib.lua"),
            "\n",
            include_str!("queue/lua/queue.lua"),
            $($(function!($dir, $name)),+),+
        );

        /// The names of the functions [`CODE`] registers.
        pub const FUNCTIONS: &[&str] = &[$($($name),+),+];
    };
}

library! {
    "inventory": [
        "reserve",
        "release_unpublished",
        "mark_published",
        "cancel",
        "confirm",
        "refund",
        "expire",
    ],
    "queue": ["join", "status", "leave", "tick", "place"],
}

static LIBRARY: LazyLock<Arc<Library>> = LazyLock::new(|| Library::new("booking", CODE));

/// Booking's library.
pub fn library() -> &'static Arc<Library> {
    &LIBRARY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_is_registered_once_under_the_library_name() {
        let library = library();
        assert!(library.name().starts_with("booking_"));
        for name in FUNCTIONS {
            let registration = format!("register('{name}', function()");
            assert_eq!(CODE.matches(&registration).count(), 1, "{name}");
        }
        assert_eq!(CODE.matches("register('").count(), FUNCTIONS.len());
    }
}
