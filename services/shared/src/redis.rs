//! Redis client set-up, and Lua function libraries.

use redis::{
    Client, FromRedisValue, ToRedisArgs,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
};
use std::{sync::Arc, time::Duration};

use crate::config::{ConfigError, Env};

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Connection URL.
    pub url: String,
}

impl RedisConfig {
    /// Reads `REDIS_URL`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.string_or("REDIS_URL", "redis://127.0.0.1:6379");
        Client::open(url.as_str()).map_err(|e| ConfigError {
            name: "REDIS_URL".into(),
            reason: format!("not a Redis URL: {e}"),
        })?;
        Ok(Self { url })
    }

    /// A multiplexed, self-reconnecting connection.
    pub async fn connect(&self) -> redis::RedisResult<ConnectionManager> {
        let client = Client::open(self.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(3))
            .set_response_timeout(Duration::from_secs(3))
            .set_number_of_retries(2);
        ConnectionManager::new_with_config(client, config).await
    }
}

/// Checks that Redis answers.
pub async fn ping(conn: &ConnectionManager) -> redis::RedisResult<()> {
    let mut conn = conn.clone();
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(|_| ())
}

/// Lua functions loaded into Redis once as a library (`FUNCTION LOAD`) and called with `FCALL`.
///
/// A script run with `EVALSHA` executes its whole text on every call, shared helpers included;
/// a library runs its top level once, at load, and each call runs only the function. The
/// library is named after `prefix` and a hash of its code, so two versions of a service never
/// replace each other's functions; its code sees that name as the Lua local `LIBRARY`.
#[derive(Debug)]
pub struct Library {
    name: String,
    code: String,
}

impl Library {
    /// A library of `code`, named `<prefix>_<hash of code>`.
    pub fn new(prefix: &str, code: &str) -> Arc<Self> {
        let hash = sha1_smol::Sha1::from(code).digest().to_string();
        let name = format!("{prefix}_{}", &hash[..16]);
        let code = format!("#!lua name={name}\nlocal LIBRARY = '{name}'\n{code}");
        Arc::new(Self { name, code })
    }

    /// The library's name in Redis.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A function of the library, by the name its code registered it under after `LIBRARY_`.
    pub fn function(self: &Arc<Self>, name: &str) -> Function {
        Function {
            library: Arc::clone(self),
            name: format!("{}_{name}", self.name),
        }
    }

    /// Loads the library; a library of the same name (so the same code) already there is kept.
    pub async fn load(&self, conn: &mut impl ConnectionLike) -> redis::RedisResult<()> {
        let loaded: redis::RedisResult<String> = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(&self.code)
            .query_async(conn)
            .await;
        match loaded {
            Ok(_) => Ok(()),
            // Only the library itself: "Function … already exists" means another library owns
            // a name, and that is an error.
            Err(err)
                if err.detail().is_some_and(|d| {
                    d.starts_with("Library '") && d.ends_with("already exists")
                }) =>
            {
                Ok(())
            }
            Err(err) => Err(err),
        }
    }
}

/// One function of a [`Library`].
#[derive(Debug, Clone)]
pub struct Function {
    library: Arc<Library>,
    name: String,
}

impl Function {
    /// The function's full name, as `FCALL` takes it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts a call with its first key.
    pub fn key<T: ToRedisArgs>(&self, key: T) -> FunctionCall<'_> {
        let mut call = FunctionCall {
            function: self,
            keys: Vec::new(),
            args: Vec::new(),
        };
        call.key(key);
        call
    }
}

/// The keys and arguments of one call of a [`Function`].
#[derive(Debug)]
pub struct FunctionCall<'a> {
    function: &'a Function,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl FunctionCall<'_> {
    /// Adds a key (the function's `keys`).
    pub fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    /// Adds an argument (the function's `args`).
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// Calls the function; when Redis does not know it (a restarted or flushed server), loads
    /// the library and calls once more.
    pub async fn invoke_async<T: FromRedisValue>(
        &self,
        conn: &mut impl ConnectionLike,
    ) -> redis::RedisResult<T> {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(&self.function.name)
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        match cmd.query_async(conn).await {
            Err(err) if err.detail() == Some("Function not found") => {
                self.function.library.load(conn).await?;
                cmd.query_async(conn).await
            }
            answer => answer,
        }
    }
}
