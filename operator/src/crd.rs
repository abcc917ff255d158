//! The `FlashSale` custom resource: its spec (the provisioning crate's `SaleSpec` plus workload
//! settings), its status, and the CRD generated from them.

use k8s_openapi::{
    api::core::v1::{EnvVar, ResourceRequirements},
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{CustomResource, CustomResourceExt};
use provisioning::SaleSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the FlashSale resource.
pub const GROUP: &str = "booking-rush.dev";

/// The desired state of one flash sale.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "booking-rush.dev",
    version = "v1alpha1",
    kind = "FlashSale",
    plural = "flashsales",
    shortname = "fs",
    namespaced,
    status = "FlashSaleStatus",
    derive = "PartialEq",
    category = "booking-rush",
    doc = "A flash sale: its seats and window, and the booking and payment services that sell them.",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Sold","type":"string","description":"seats sold / capacity","jsonPath":".status.soldOfCapacity"}"#,
    printcolumn = r#"{"name":"Booking","type":"integer","description":"booking replicas","jsonPath":".status.bookingReplicas"}"#,
    printcolumn = r#"{"name":"Starts","type":"date","jsonPath":".spec.startsAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    scale(
        spec_replicas_path = ".spec.booking.replicas",
        status_replicas_path = ".status.bookingReplicas",
        label_selector_path = ".status.selector"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.saleId == oldSelf.saleId",
        "message": "saleId is immutable",
        "fieldPath": ".saleId",
        "reason": "FieldValueForbidden"
    },
    {
        "rule": "self.endsAt > self.startsAt",
        "message": "endsAt must be after startsAt",
        "fieldPath": ".endsAt"
    },
    {
        "rule": "self.partitions >= oldSelf.partitions",
        "message": "partitions may only grow",
        "fieldPath": ".partitions",
        "reason": "FieldValueForbidden"
    }
]))]
pub struct FlashSaleSpec {
    /// The sale itself: id, window, hold TTL, topic partitions and zones.
    #[serde(flatten)]
    pub sale: SaleSpec,
    /// The sale's booking service.
    #[serde(default)]
    pub booking: WorkloadSpec,
    /// The sale's payment service.
    #[serde(default)]
    pub payment: WorkloadSpec,
    /// Scales both workloads to zero while true; inventory and topics are kept.
    #[serde(default)]
    pub suspend: bool,
    /// What happens to the sale's Redis keys and Kafka topics when the resource is deleted.
    #[serde(default)]
    pub cleanup_policy: CleanupPolicy,
}

/// What deleting a FlashSale does to its live state.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CleanupPolicy {
    /// Keep the Redis inventory and the Kafka topics.
    #[default]
    Retain,
    /// Delete the Redis inventory and the Kafka topics.
    Delete,
}

/// When the kubelet pulls a workload's image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    /// Every time a container starts.
    Always,
    /// Only when the node does not have it.
    IfNotPresent,
    /// Never; the image must be on the node.
    Never,
}

impl PullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// Settings of one per-sale workload (booking or payment).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// Container image; the operator's configured image when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image pull policy; Kubernetes' default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// CPU and memory requests and limits; the operator's defaults when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra environment variables; one with the name of an operator-set variable replaces it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub env: Vec<EnvVar>,
    /// Replicas while autoscaling is off (`kubectl scale fs/NAME` sets the booking one).
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,
    /// A HorizontalPodAutoscaler owns the replica count when enabled.
    #[serde(default)]
    pub autoscaling: AutoscalingSpec,
}

fn default_replicas() -> i32 {
    2
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        Self {
            image: None,
            image_pull_policy: None,
            resources: None,
            env: Vec::new(),
            replicas: default_replicas(),
            autoscaling: AutoscalingSpec::default(),
        }
    }
}

/// CPU-based horizontal autoscaling of a workload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.minReplicas <= self.maxReplicas",
        "message": "minReplicas must not exceed maxReplicas",
        "fieldPath": ".minReplicas"
    }
]))]
pub struct AutoscalingSpec {
    /// Whether an HPA scales the workload.
    #[serde(default)]
    pub enabled: bool,
    /// Fewest replicas.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: i32,
    /// Most replicas.
    #[serde(default = "default_max_replicas")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Average CPU utilisation the HPA aims for, in percent of the request.
    #[serde(default = "default_target_cpu")]
    #[schemars(range(min = 1, max = 100))]
    #[serde(rename = "targetCPUUtilizationPercentage")]
    pub target_cpu_utilization_percentage: i32,
}

fn default_min_replicas() -> i32 {
    2
}

fn default_max_replicas() -> i32 {
    10
}

fn default_target_cpu() -> i32 {
    70
}

impl Default for AutoscalingSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            min_replicas: default_min_replicas(),
            max_replicas: default_max_replicas(),
            target_cpu_utilization_percentage: default_target_cpu(),
        }
    }
}

/// Where a sale is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Accepted; waiting for Redis and Kafka to be reachable.
    #[default]
    Pending,
    /// Inventory, topics or workloads are being set up.
    Provisioning,
    /// Ready, before the sale opens.
    Scheduled,
    /// Open, with seats left.
    Live,
    /// Open, every seat held or sold.
    SoldOut,
    /// Closed.
    Ended,
    /// Workloads scaled to zero by `spec.suspend`.
    Suspended,
    /// The spec cannot be acted on; see the Ready condition.
    Failed,
}

impl Phase {
    /// The name shown in `kubectl get`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Provisioning => "Provisioning",
            Self::Scheduled => "Scheduled",
            Self::Live => "Live",
            Self::SoldOut => "SoldOut",
            Self::Ended => "Ended",
            Self::Suspended => "Suspended",
            Self::Failed => "Failed",
        }
    }
}

/// Live inventory of one zone, read back from Redis.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInventory {
    /// Zone id.
    pub zone: String,
    /// Seats in the zone.
    pub capacity: i64,
    /// Seats free to reserve.
    pub available: i64,
    /// Seats held by unpaid reservations.
    pub held: i64,
    /// Seats sold.
    pub sold: i64,
}

/// The observed state of a flash sale.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlashSaleStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The last generation whose inventory and topics were provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_generation: Option<i64>,
    /// Where the sale is in its life.
    #[serde(default)]
    pub phase: Phase,
    /// `Ready`, `InventoryReady`, `TopicsReady` and `WorkloadsReady`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Live inventory per zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<ZoneInventory>,
    /// Seats sold out of the sale's capacity, e.g. `120/1550`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold_of_capacity: Option<String>,
    /// Booking pods that exist.
    #[serde(default)]
    pub booking_replicas: i32,
    /// Booking pods that are ready.
    #[serde(default)]
    pub booking_ready_replicas: i32,
    /// Payment pods that exist.
    #[serde(default)]
    pub payment_replicas: i32,
    /// Payment pods that are ready.
    #[serde(default)]
    pub payment_ready_replicas: i32,
    /// Label selector of the booking pods (for the scale subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

impl FlashSale {
    /// The condition of this type, if any.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == kind))
    }
}

/// The CRD as YAML, exactly as `operator crd` prints it and crds/flashsale.yaml holds it.
pub fn crd_yaml() -> Result<String, serde_norway::Error> {
    let body = serde_norway::to_string(&FlashSale::crd())?;
    Ok(format!(
        "# Generated by `operator crd` from the Rust types; do not edit (make crd regenerates it).\n{body}"
    ))
}
