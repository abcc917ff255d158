//! Auth's PostgreSQL access: users and refresh-token families.

use shared::auth::Role;
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

/// A user as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    /// Id.
    pub user_id: Uuid,
    /// Normalised email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Display name.
    pub display_name: String,
    /// Role as stored.
    pub role: String,
    /// Created.
    pub created_at: OffsetDateTime,
}

impl UserRow {
    /// The role (customer if the stored value is unknown).
    pub fn role(&self) -> Role {
        parse_role(&self.role).unwrap_or(Role::Customer)
    }
}

/// The stored form of a role.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Customer => "customer",
        Role::Organizer => "organizer",
        Role::Admin => "admin",
    }
}

/// Parses a stored role.
pub fn parse_role(raw: &str) -> Option<Role> {
    Some(match raw {
        "customer" => Role::Customer,
        "organizer" => Role::Organizer,
        "admin" => Role::Admin,
        _ => return None,
    })
}

const USER_COLUMNS: &str = "user_id, email, password_hash, display_name, role, created_at";

/// Inserts a customer; `false` when the email is taken.
pub async fn insert_user(
    pool: &PgPool,
    id: Uuid,
    email: &str,
    hash: &str,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO users (user_id, email, password_hash, display_name) VALUES ($1, $2, $3, $4)
         ON CONFLICT ON CONSTRAINT users_email_unique DO NOTHING",
    )
    .bind(id)
    .bind(email)
    .bind(hash)
    .bind(name)
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A user by email.
pub async fn user_by_email(pool: &PgPool, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(pool)
    .await
}

/// A user by id.
pub async fn user_by_id(pool: &PgPool, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE user_id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Updates name and/or password hash; returns the user.
pub async fn update_user(
    pool: &PgPool,
    id: Uuid,
    name: Option<&str>,
    hash: Option<&str>,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE users SET display_name = COALESCE($2, display_name), password_hash = COALESCE($3, password_hash),
                          updated_at = now()
         WHERE user_id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(hash)
    .fetch_optional(pool)
    .await
}

/// Sets a role; returns the user.
pub async fn set_role(pool: &PgPool, id: Uuid, role: Role) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE users SET role = $2, updated_at = now() WHERE user_id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(role_name(role))
    .fetch_optional(pool)
    .await
}

/// Sets a role by email (the admin CLI); returns whether the account exists.
pub async fn set_role_by_email(
    pool: &PgPool,
    email: &str,
    role: Role,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query("UPDATE users SET role = $2, updated_at = now() WHERE email = $1")
        .bind(email)
        .bind(role_name(role))
        .execute(pool)
        .await?;
    Ok(updated.rows_affected() == 1)
}

/// Stores a refresh token's hash in a family.
pub async fn insert_refresh(
    tx: &mut Transaction<'_, Postgres>,
    family: Uuid,
    user: Uuid,
    hash: &[u8],
    expires_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_id, family_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(family)
    .bind(user)
    .bind(hash)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A refresh token as stored, locked for the rest of the transaction.
#[derive(Debug, sqlx::FromRow)]
pub struct RefreshRow {
    /// Token id.
    pub token_id: Uuid,
    /// Family.
    pub family_id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// Set once rotated.
    pub used_at: Option<OffsetDateTime>,
    /// Set once revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// Finds and locks a refresh token by hash.
pub async fn lock_refresh(
    tx: &mut Transaction<'_, Postgres>,
    hash: &[u8],
) -> Result<Option<RefreshRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT token_id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens
         WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash)
    .fetch_optional(&mut **tx)
    .await
}

/// Marks a token rotated.
pub async fn mark_used(tx: &mut Transaction<'_, Postgres>, token: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_id = $1")
        .bind(token)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Revokes every live token of a family.
pub async fn revoke_family(
    pool: impl sqlx::PgExecutor<'_>,
    family: Uuid,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Revokes every live token of a user.
pub async fn revoke_user(pool: &PgPool, user: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user)
    .execute(pool)
    .await?
    .rows_affected())
}

/// The family and owner of a refresh token.
pub async fn refresh_owner(
    pool: &PgPool,
    hash: &[u8],
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(pool)
        .await
}
