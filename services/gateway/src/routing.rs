//! The routing table: which upstream serves a path.

use shared::ids::SaleId;

/// Upstream base URLs. The sale templates may contain `{sale}`, replaced by the sale id
/// (`http://{sale}-booking:8083` in a cluster, one local address in development).
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// The auth service.
    pub auth: String,
    /// The ticket (catalog) service.
    pub catalog: String,
    /// A booking service for cross-sale reads (`/api/v1/me/bookings`).
    pub booking: String,
    /// A payment service for cross-sale reads (`/api/v1/me/payments`).
    pub payment: String,
    /// Template of a sale's booking service.
    pub sale_booking: String,
    /// Template of a sale's payment service.
    pub sale_payment: String,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Bounded route name, for metrics and limits.
    pub route: &'static str,
    /// Upstream base URL (no trailing slash).
    pub base: String,
}

/// The route of the auth service.
const AUTH: &str = "auth";
/// The route of a buyer's bookings across sales.
const ME_BOOKINGS: &str = "me_bookings";
/// The route of a buyer's payments across sales.
const ME_PAYMENTS: &str = "me_payments";
/// The route of the catalog.
const CATALOG: &str = "catalog";
/// The route of a sale's booking service.
const SALE_BOOKING: &str = "sale_booking";
/// The route of a sale's payment service.
const SALE_PAYMENT: &str = "sale_payment";

/// Every route name [`Upstreams::route`] can answer: a bounded label set.
pub const ROUTES: [&str; 6] = [
    AUTH,
    ME_BOOKINGS,
    ME_PAYMENTS,
    CATALOG,
    SALE_BOOKING,
    SALE_PAYMENT,
];

const CATALOG_PREFIXES: &[&str] = &[
    "/api/v1/events",
    "/api/v1/venues",
    "/api/v1/shows",
    "/api/v1/catalog",
];

fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Upstreams {
    /// The target of `path`, or `None` when no route matches (or the sale id is invalid).
    pub fn route(&self, path: &str) -> Option<Target> {
        let target = |route, base: &str| {
            Some(Target {
                route,
                base: base.to_owned(),
            })
        };
        if under(path, "/api/v1/auth") {
            return target(AUTH, &self.auth);
        }
        if under(path, "/api/v1/me/bookings") {
            return target(ME_BOOKINGS, &self.booking);
        }
        if under(path, "/api/v1/me/payments") {
            return target(ME_PAYMENTS, &self.payment);
        }
        if CATALOG_PREFIXES.iter().any(|p| under(path, p)) {
            return target(CATALOG, &self.catalog);
        }
        let rest = path.strip_prefix("/api/v1/sales/")?;
        let (sale, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let sale = SaleId::parse(sale).ok()?;
        let segments: Vec<&str> = tail.split('/').collect();
        let is_payment = matches!(
            segments.as_slice(),
            ["reservations", _, "payment", ..] | ["payments", ..]
        );
        if is_payment {
            target(
                SALE_PAYMENT,
                &self.sale_payment.replace("{sale}", sale.as_str()),
            )
        } else {
            target(
                SALE_BOOKING,
                &self.sale_booking.replace("{sale}", sale.as_str()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Upstreams {
        Upstreams {
            auth: "http://auth:8081".into(),
            catalog: "http://ticket:8082".into(),
            booking: "http://booking:8083".into(),
            payment: "http://payment:8084".into(),
            sale_booking: "http://{sale}-booking:8083".into(),
            sale_payment: "http://{sale}-payment:8084".into(),
        }
    }

    #[test]
    fn each_family_of_paths_goes_to_its_service() {
        let u = cluster();
        let base = |p: &str| u.route(p).map(|t| t.base);
        assert_eq!(
            base("/api/v1/auth/login").as_deref(),
            Some("http://auth:8081")
        );
        assert_eq!(
            base("/api/v1/events").as_deref(),
            Some("http://ticket:8082")
        );
        assert_eq!(
            base("/api/v1/me/bookings").as_deref(),
            Some("http://booking:8083")
        );
        assert_eq!(
            base("/api/v1/me/payments").as_deref(),
            Some("http://payment:8084")
        );
        assert_eq!(
            base("/api/v1/sales/spring-gala/reservations").as_deref(),
            Some("http://spring-gala-booking:8083")
        );
        assert_eq!(
            base("/api/v1/sales/demo/availability").as_deref(),
            Some("http://demo-booking:8083")
        );
        assert_eq!(
            base("/api/v1/sales/demo/reservations/r1/payment").as_deref(),
            Some("http://demo-payment:8084")
        );
        assert_eq!(
            base("/api/v1/sales/demo/payments/p1").as_deref(),
            Some("http://demo-payment:8084")
        );
    }

    #[test]
    fn every_route_answered_is_one_of_the_named_routes() {
        let u = cluster();
        let answered: std::collections::BTreeSet<&str> = [
            "/api/v1/auth/login",
            "/api/v1/me/bookings",
            "/api/v1/me/payments",
            "/api/v1/catalog/x",
            "/api/v1/sales/demo/reservations",
            "/api/v1/sales/demo/payments/p1",
        ]
        .into_iter()
        .filter_map(|p| u.route(p).map(|t| t.route))
        .collect();
        assert_eq!(answered, ROUTES.into_iter().collect());
    }

    #[test]
    fn unknown_paths_and_bad_sale_ids_match_nothing() {
        let u = cluster();
        for path in [
            "/",
            "/api/v1/authx",
            "/api/v1/sales/",
            "/api/v1/sales/Evil.Host:1/x",
            "/api/v1/sales/a@b/x",
            "/internal",
        ] {
            assert_eq!(u.route(path), None, "{path}");
        }
    }
}
