//! Who may do what: organizers manage their own catalog, admins everything, everyone reads
//! what is published. What a caller may not read does not exist for them (404); what they may
//! read but not change is a 403.

use shared::auth::{AuthUser, Role};
use uuid::Uuid;

use crate::error::TicketError;

/// Whether `user` manages objects owned by `owner`.
pub fn manages(user: Option<&AuthUser>, owner: Uuid) -> bool {
    user.is_some_and(|u| u.role == Role::Admin || (u.role == Role::Organizer && u.id == owner))
}

/// Whether `user` sees everything (an admin).
pub fn is_admin(user: &AuthUser) -> bool {
    user.role == Role::Admin
}

/// Only organizers and admins create catalog objects.
pub fn require_organizer(user: &AuthUser) -> Result<(), TicketError> {
    match user.role {
        Role::Organizer | Role::Admin => Ok(()),
        Role::Customer => Err(TicketError::Forbidden(
            "only organizers and admins manage the catalog",
        )),
    }
}

/// A write to an object owned by `owner`: allowed for its managers; a 403 for others who can
/// read it (`public`), and `hidden` (a 404) for those who cannot.
pub fn authorize_write(
    user: &AuthUser,
    owner: Uuid,
    public: bool,
    hidden: TicketError,
) -> Result<(), TicketError> {
    if manages(Some(user), owner) {
        Ok(())
    } else if public {
        Err(TicketError::Forbidden(
            "only its organizer or an admin may change this",
        ))
    } else {
        Err(hidden)
    }
}

/// Scope of the management listings: `None` for admins (everything), else the caller's own.
pub fn own_scope(user: &AuthUser) -> Result<Option<Uuid>, TicketError> {
    require_organizer(user)?;
    Ok((!is_admin(user)).then_some(user.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> AuthUser {
        AuthUser {
            id: Uuid::new_v4(),
            role,
        }
    }

    #[test]
    fn the_owner_and_admins_manage_and_others_get_403_or_404() {
        let owner = user(Role::Organizer);
        let hidden = || TicketError::EventNotFound;
        assert!(authorize_write(&owner, owner.id, false, hidden()).is_ok());
        assert!(authorize_write(&user(Role::Admin), owner.id, false, hidden()).is_ok());
        let other = user(Role::Organizer);
        assert!(matches!(
            authorize_write(&other, owner.id, false, hidden()),
            Err(TicketError::EventNotFound)
        ));
        assert!(matches!(
            authorize_write(&other, owner.id, true, hidden()),
            Err(TicketError::Forbidden(_))
        ));
        let customer = AuthUser {
            id: owner.id,
            role: Role::Customer,
        };
        assert!(!manages(Some(&customer), owner.id));
    }
}
