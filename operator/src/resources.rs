//! Builders of the Kubernetes objects a FlashSale owns: pure functions from the resource and the
//! operator's workload defaults to the objects applied with server-side apply.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        autoscaling::v2::{
            CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
            MetricSpec, MetricTarget, ResourceMetricSource,
        },
        core::v1::{
            Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort,
            EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction,
            PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
            SeccompProfile, SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
            TopologySpreadConstraint, Volume, VolumeMount,
        },
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference},
        util::intstr::IntOrString,
    },
};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use crate::{
    config::{SecretKey, WorkloadDefaults},
    crd::{FlashSale, WorkloadSpec},
};

/// Label carrying the sale id on every owned object and pod.
pub const SALE_LABEL: &str = "booking-rush.dev/sale";
/// Label naming the workload (`booking` or `payment`).
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Pod-template annotation that changes when the shared configuration does, rolling the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "booking-rush.dev/config-hash";
/// Value of `app.kubernetes.io/managed-by` on owned objects.
pub const MANAGER: &str = "flashsale-operator";

/// Why the owned objects cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// The FlashSale lacks metadata the owner reference needs (it was not read from the API).
    #[error("the FlashSale has no {0}")]
    MissingMetadata(&'static str),
}

/// One of the two per-sale workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The booking service.
    Booking,
    /// The payment service.
    Payment,
}

impl Workload {
    /// Both workloads, booking first.
    pub const ALL: [Workload; 2] = [Workload::Booking, Workload::Payment];

    /// The workload's (and its binary's) name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Booking => "booking",
            Self::Payment => "payment",
        }
    }

    /// The HTTP port it serves.
    pub fn port(self) -> i32 {
        match self {
            Self::Booking => 8083,
            Self::Payment => 8084,
        }
    }

    /// Its settings in the FlashSale.
    pub fn spec(self, fs: &FlashSale) -> &WorkloadSpec {
        match self {
            Self::Booking => &fs.spec.booking,
            Self::Payment => &fs.spec.payment,
        }
    }

    fn default_image(self, defaults: &WorkloadDefaults) -> &str {
        match self {
            Self::Booking => &defaults.booking_image,
            Self::Payment => &defaults.payment_image,
        }
    }

    /// Name of its Deployment, Service, PodDisruptionBudget and HPA.
    pub fn object_name(self, sale: &str) -> String {
        format!("{sale}-{}", self.name())
    }

    /// The label selector of its pods, as `kubectl` and the scale subresource spell it.
    pub fn selector_string(self, sale: &str) -> String {
        format!("{COMPONENT_LABEL}={},{SALE_LABEL}={sale}", self.name())
    }
}

/// Name of the sale's ConfigMap.
pub fn config_map_name(sale: &str) -> String {
    format!("{sale}-config")
}

/// Every object one FlashSale owns.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleObjects {
    /// Shared, non-secret environment of both workloads, and the sale spec for reference.
    pub config_map: ConfigMap,
    /// The booking service's objects.
    pub booking: WorkloadObjects,
    /// The payment service's objects.
    pub payment: WorkloadObjects,
}

/// The objects of one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadObjects {
    /// Which workload.
    pub workload: Workload,
    /// Its Deployment (no `replicas` when an HPA owns them).
    pub deployment: Deployment,
    /// Its ClusterIP Service.
    pub service: Service,
    /// At most one pod down at a time during voluntary disruptions.
    pub pdb: PodDisruptionBudget,
    /// Present when autoscaling is enabled.
    pub hpa: Option<HorizontalPodAutoscaler>,
}

/// Builds every object the FlashSale owns.
pub fn build(fs: &FlashSale, defaults: &WorkloadDefaults) -> Result<SaleObjects, BuildError> {
    let owner = owner_reference(fs)?;
    let config_map = config_map(fs, defaults, &owner);
    let hash = config_hash(&config_map);
    let objects = |workload| WorkloadObjects {
        workload,
        deployment: deployment(fs, workload, defaults, &owner, &hash),
        service: service(fs, workload, &owner),
        pdb: pdb(fs, workload, &owner),
        hpa: hpa(fs, workload, &owner),
    };
    Ok(SaleObjects {
        booking: objects(Workload::Booking),
        payment: objects(Workload::Payment),
        config_map,
    })
}

fn owner_reference(fs: &FlashSale) -> Result<OwnerReference, BuildError> {
    if fs.meta().uid.is_none() {
        return Err(BuildError::MissingMetadata("uid"));
    }
    if fs.meta().namespace.is_none() {
        return Err(BuildError::MissingMetadata("namespace"));
    }
    fs.controller_owner_ref(&())
        .ok_or(BuildError::MissingMetadata("name"))
}

fn labels(fs: &FlashSale, component: &str) -> BTreeMap<String, String> {
    let sale = fs.spec.sale.sale_id.as_str();
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), component.to_owned()),
        ("app.kubernetes.io/instance".to_owned(), sale.to_owned()),
        (COMPONENT_LABEL.to_owned(), component.to_owned()),
        (
            "app.kubernetes.io/part-of".to_owned(),
            "booking-rush".to_owned(),
        ),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGER.to_owned(),
        ),
        (SALE_LABEL.to_owned(), sale.to_owned()),
    ])
}

fn selector_labels(fs: &FlashSale, workload: Workload) -> BTreeMap<String, String> {
    BTreeMap::from([
        (COMPONENT_LABEL.to_owned(), workload.name().to_owned()),
        (SALE_LABEL.to_owned(), fs.spec.sale.sale_id.to_string()),
    ])
}

fn label_selector(fs: &FlashSale, workload: Workload) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(fs, workload)),
        ..LabelSelector::default()
    }
}

fn metadata(fs: &FlashSale, name: String, component: &str, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: fs.namespace(),
        labels: Some(labels(fs, component)),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// The sale's ConfigMap: the workloads' shared environment and the sale spec.
pub fn config_map(
    fs: &FlashSale,
    defaults: &WorkloadDefaults,
    owner: &OwnerReference,
) -> ConfigMap {
    let sale = fs.spec.sale.sale_id.as_str();
    let mut data = BTreeMap::from([
        ("REDIS_URL".to_owned(), defaults.redis_url.clone()),
        ("KAFKA_BROKERS".to_owned(), defaults.kafka_brokers.clone()),
        ("AUTH_JWKS_URL".to_owned(), defaults.jwks_url.clone()),
        ("RUST_LOG".to_owned(), defaults.rust_log.clone()),
    ]);
    if let Some(url) = &defaults.psp_url {
        data.insert("PAYMENT_PSP_URL".to_owned(), url.clone());
    }
    if let Ok(spec) = serde_json::to_string_pretty(&fs.spec.sale) {
        data.insert("sale.json".to_owned(), spec);
    }
    ConfigMap {
        metadata: metadata(fs, config_map_name(sale), "config", owner),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// A stable digest of the ConfigMap's data; a change rolls the workloads' pods.
pub fn config_hash(config_map: &ConfigMap) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in config_map.data.iter().flatten() {
        hasher.update(key.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn plain(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn from_secret(name: &str, secret: &SecretKey) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.name.clone(),
                key: secret.key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// The container environment: the workload's own variables, then the FlashSale's `env`, which
/// replaces a variable of the same name rather than duplicating it.
pub fn environment(fs: &FlashSale, workload: Workload, defaults: &WorkloadDefaults) -> Vec<EnvVar> {
    let sale = fs.spec.sale.sale_id.as_str();
    let port = workload.port().to_string();
    let mut env = match workload {
        Workload::Booking => vec![
            plain("BOOKING_SALES", sale),
            plain("BOOKING_HOST", "0.0.0.0"),
            plain("BOOKING_PORT", port),
            from_secret("DATABASE_URL", &defaults.database),
        ],
        Workload::Payment => vec![
            plain("PAYMENT_SALES", sale),
            plain("PAYMENT_HOST", "0.0.0.0"),
            plain("PAYMENT_PORT", port),
            plain(
                "PAYMENT_BOOKING_URL",
                format!(
                    "http://{}:{}",
                    Workload::Booking.object_name(sale),
                    Workload::Booking.port()
                ),
            ),
            from_secret("DATABASE_URL", &defaults.database),
            from_secret("PAYMENT_PSP_WEBHOOK_SECRET", &defaults.psp_webhook_secret),
            from_secret("PAYMENT_PSP_API_KEY", &defaults.psp_api_key),
        ],
    };
    for extra in &workload.spec(fs).env {
        match env.iter_mut().find(|e| e.name == extra.name) {
            Some(existing) => *existing = extra.clone(),
            None => env.push(extra.clone()),
        }
    }
    env
}

fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("250m".to_owned())),
            ("memory".to_owned(), Quantity("256Mi".to_owned())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_owned(),
            Quantity("512Mi".to_owned()),
        )])),
        ..ResourceRequirements::default()
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// The workload's Deployment; `replicas` is left out when an HPA owns it and is 0 when suspended.
pub fn deployment(
    fs: &FlashSale,
    workload: Workload,
    defaults: &WorkloadDefaults,
    owner: &OwnerReference,
    config_hash: &str,
) -> Deployment {
    let sale = fs.spec.sale.sale_id.as_str();
    let spec = workload.spec(fs);
    let replicas = if fs.spec.suspend {
        Some(0)
    } else if spec.autoscaling.enabled {
        None
    } else {
        Some(spec.replicas)
    };
    let container = Container {
        name: workload.name().to_owned(),
        image: Some(
            spec.image
                .clone()
                .unwrap_or_else(|| workload.default_image(defaults).to_owned()),
        ),
        image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().to_owned()),
        args: None,
        env: Some(environment(fs, workload, defaults)),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: config_map_name(sale),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_owned()),
            container_port: workload.port(),
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        resources: Some(spec.resources.clone().unwrap_or_else(default_resources)),
        startup_probe: Some(http_probe("/healthz", 2, 60)),
        liveness_probe: Some(http_probe("/healthz", 10, 3)),
        readiness_probe: Some(http_probe("/readyz", 5, 2)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let mut pod_labels = labels(fs, workload.name());
    pod_labels.extend(selector_labels(fs, workload));
    Deployment {
        metadata: metadata(fs, workload.object_name(sale), workload.name(), owner),
        spec: Some(DeploymentSpec {
            replicas,
            selector: label_selector(fs, workload),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".to_owned())),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_HASH_ANNOTATION.to_owned(),
                        config_hash.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    termination_grace_period_seconds: Some(30),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        run_as_group: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    topology_spread_constraints: Some(vec![TopologySpreadConstraint {
                        max_skew: 1,
                        topology_key: "kubernetes.io/hostname".to_owned(),
                        when_unsatisfiable: "ScheduleAnyway".to_owned(),
                        label_selector: Some(label_selector(fs, workload)),
                        ..TopologySpreadConstraint::default()
                    }]),
                    volumes: Some(vec![Volume {
                        name: "tmp".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// The workload's ClusterIP Service, `<sale>-<workload>:<port>`.
pub fn service(fs: &FlashSale, workload: Workload, owner: &OwnerReference) -> Service {
    let sale = fs.spec.sale.sale_id.as_str();
    Service {
        metadata: metadata(fs, workload.object_name(sale), workload.name(), owner),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(fs, workload)),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: workload.port(),
                target_port: Some(IntOrString::String("http".to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// At most one of the workload's pods evicted at a time.
pub fn pdb(fs: &FlashSale, workload: Workload, owner: &OwnerReference) -> PodDisruptionBudget {
    let sale = fs.spec.sale.sale_id.as_str();
    PodDisruptionBudget {
        metadata: metadata(fs, workload.object_name(sale), workload.name(), owner),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(label_selector(fs, workload)),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

/// The workload's CPU autoscaler, when autoscaling is enabled and the sale is not suspended.
pub fn hpa(
    fs: &FlashSale,
    workload: Workload,
    owner: &OwnerReference,
) -> Option<HorizontalPodAutoscaler> {
    let autoscaling = &workload.spec(fs).autoscaling;
    if !autoscaling.enabled || fs.spec.suspend {
        return None;
    }
    let sale = fs.spec.sale.sale_id.as_str();
    Some(HorizontalPodAutoscaler {
        metadata: metadata(fs, workload.object_name(sale), workload.name(), owner),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: workload.object_name(sale),
            },
            min_replicas: Some(autoscaling.min_replicas),
            max_replicas: autoscaling.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".to_owned(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".to_owned(),
                    target: MetricTarget {
                        type_: "Utilization".to_owned(),
                        average_utilization: Some(autoscaling.target_cpu_utilization_percentage),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::OperatorConfig, crd::PullPolicy};
    use shared::config::Env;

    fn defaults() -> WorkloadDefaults {
        OperatorConfig::from_env(&Env::default().with("OPERATOR_PSP_URL", "https://psp.example"))
            .unwrap()
            .workloads
    }

    fn env_value<'a>(env: &'a [EnvVar], name: &str) -> Option<&'a EnvVar> {
        env.iter().find(|e| e.name == name)
    }

    #[test]
    fn every_object_is_named_for_the_sale_and_owned_by_the_flashsale() {
        let fs = FlashSale::test("spring");
        let objects = build(&fs, &defaults()).unwrap();
        let uid = fs.metadata.uid.clone().unwrap();
        let metas = [
            &objects.config_map.metadata,
            &objects.booking.deployment.metadata,
            &objects.booking.service.metadata,
            &objects.booking.pdb.metadata,
            &objects.payment.deployment.metadata,
            &objects.payment.service.metadata,
            &objects.payment.pdb.metadata,
        ];
        for meta in metas {
            let owner = &meta.owner_references.as_ref().unwrap()[0];
            assert_eq!(owner.uid, uid);
            assert_eq!(owner.kind, "FlashSale");
            assert_eq!(owner.controller, Some(true));
            assert_eq!(meta.namespace.as_deref(), Some("default"));
            assert_eq!(meta.labels.as_ref().unwrap()[SALE_LABEL], "spring");
        }
        assert_eq!(
            objects.config_map.metadata.name.as_deref(),
            Some("spring-config")
        );
        assert_eq!(
            objects.booking.service.metadata.name.as_deref(),
            Some("spring-booking")
        );
        assert_eq!(
            objects.payment.deployment.metadata.name.as_deref(),
            Some("spring-payment")
        );
        assert!(objects.booking.hpa.is_none() && objects.payment.hpa.is_none());
    }

    #[test]
    fn a_flashsale_not_read_from_the_api_cannot_own_anything() {
        let mut fs = FlashSale::test("spring");
        fs.metadata.uid = None;
        assert_eq!(
            build(&fs, &defaults()).unwrap_err(),
            BuildError::MissingMetadata("uid")
        );
    }

    #[test]
    fn the_booking_container_gets_its_sale_port_probes_and_secrets() {
        let fs = FlashSale::test("spring");
        let defaults = defaults();
        let objects = build(&fs, &defaults).unwrap();
        let spec = objects.booking.deployment.spec.unwrap();
        assert_eq!(spec.replicas, Some(2));
        let selector = spec.selector.match_labels.unwrap();
        let pod = spec.template.spec.unwrap();
        let container = &pod.containers[0];
        assert_eq!(container.name, "booking");
        assert_eq!(
            container.image.as_deref(),
            Some(defaults.booking_image.as_str())
        );
        assert_eq!(container.ports.as_ref().unwrap()[0].container_port, 8083);
        let env = container.env.as_ref().unwrap();
        assert_eq!(
            env_value(env, "BOOKING_SALES").unwrap().value.as_deref(),
            Some("spring")
        );
        assert_eq!(
            env_value(env, "BOOKING_HOST").unwrap().value.as_deref(),
            Some("0.0.0.0")
        );
        assert_eq!(
            env_value(env, "BOOKING_PORT").unwrap().value.as_deref(),
            Some("8083")
        );
        let db = env_value(env, "DATABASE_URL").unwrap();
        assert!(
            db.value.is_none(),
            "the database URL never appears in the spec"
        );
        let secret = db
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (secret.name.as_str(), secret.key.as_str()),
            ("booking-rush-database", "url")
        );
        let probe_path =
            |p: &Option<Probe>| p.as_ref().unwrap().http_get.as_ref().unwrap().path.clone();
        assert_eq!(
            probe_path(&container.liveness_probe).as_deref(),
            Some("/healthz")
        );
        assert_eq!(
            probe_path(&container.readiness_probe).as_deref(),
            Some("/readyz")
        );
        let from = &container.env_from.as_ref().unwrap()[0];
        assert_eq!(from.config_map_ref.as_ref().unwrap().name, "spring-config");
        let template_labels = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert!(
            selector
                .iter()
                .all(|(k, v)| template_labels.get(k) == Some(v))
        );
        assert_eq!(
            container
                .security_context
                .as_ref()
                .unwrap()
                .read_only_root_filesystem,
            Some(true)
        );
        assert_eq!(pod.automount_service_account_token, Some(false));
    }

    #[test]
    fn the_payment_container_reaches_its_sales_booking_service() {
        let fs = FlashSale::test("spring");
        let objects = build(&fs, &defaults()).unwrap();
        let spec = objects.payment.deployment.spec.unwrap();
        let container = &spec.template.spec.unwrap().containers[0];
        let env = container.env.as_ref().unwrap();
        assert_eq!(
            env_value(env, "PAYMENT_SALES").unwrap().value.as_deref(),
            Some("spring")
        );
        assert_eq!(
            env_value(env, "PAYMENT_PORT").unwrap().value.as_deref(),
            Some("8084")
        );
        assert_eq!(
            env_value(env, "PAYMENT_BOOKING_URL")
                .unwrap()
                .value
                .as_deref(),
            Some("http://spring-booking:8083")
        );
        let webhook = env_value(env, "PAYMENT_PSP_WEBHOOK_SECRET").unwrap();
        let secret = webhook
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(secret.name, "booking-rush-psp");
        let api_key = env_value(env, "PAYMENT_PSP_API_KEY").unwrap();
        let key_ref = api_key
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (key_ref.name.as_str(), key_ref.key.as_str()),
            ("booking-rush-psp", "api-key")
        );
        assert!(
            api_key.value.is_none(),
            "the API key never sits in the manifest"
        );
        assert_eq!(
            objects.payment.service.spec.unwrap().ports.unwrap()[0].port,
            8084
        );
    }

    #[test]
    fn the_config_map_carries_the_shared_environment_and_the_sale() {
        let fs = FlashSale::test("spring");
        let defaults = defaults();
        let data = config_map(&fs, &defaults, &owner_reference(&fs).unwrap())
            .data
            .unwrap();
        assert_eq!(data["REDIS_URL"], defaults.redis_url);
        assert_eq!(data["KAFKA_BROKERS"], defaults.kafka_brokers);
        assert_eq!(
            data["AUTH_JWKS_URL"],
            "http://auth:8081/.well-known/jwks.json"
        );
        assert_eq!(data["PAYMENT_PSP_URL"], "https://psp.example");
        let sale: serde_json::Value = serde_json::from_str(&data["sale.json"]).unwrap();
        assert_eq!(sale["saleId"], "spring");
    }

    #[test]
    fn a_config_change_changes_the_pod_template() {
        let fs = FlashSale::test("spring");
        let before = build(&fs, &defaults()).unwrap();
        let mut other = defaults();
        other.rust_log = "debug".into();
        let after = build(&fs, &other).unwrap();
        let hash = |o: &SaleObjects| {
            o.booking
                .deployment
                .spec
                .as_ref()
                .unwrap()
                .template
                .metadata
                .as_ref()
                .unwrap()
                .annotations
                .as_ref()
                .unwrap()[CONFIG_HASH_ANNOTATION]
                .clone()
        };
        assert_ne!(hash(&before), hash(&after));
        assert_eq!(hash(&before), hash(&build(&fs, &defaults()).unwrap()));
    }

    #[test]
    fn flashsale_env_replaces_a_variable_of_the_same_name_and_adds_the_rest() {
        let mut fs = FlashSale::test("spring");
        fs.spec.booking.env = vec![plain("BOOKING_PORT", "9000"), plain("EXTRA", "1")];
        let env = environment(&fs, Workload::Booking, &defaults());
        assert_eq!(env.iter().filter(|e| e.name == "BOOKING_PORT").count(), 1);
        assert_eq!(
            env_value(&env, "BOOKING_PORT").unwrap().value.as_deref(),
            Some("9000")
        );
        assert_eq!(env.last().unwrap().name, "EXTRA");
    }

    #[test]
    fn workload_settings_choose_image_pull_policy_and_resources() {
        let mut fs = FlashSale::test("spring");
        fs.spec.payment.image = Some("registry.example/payment:1.2.3".into());
        fs.spec.payment.image_pull_policy = Some(PullPolicy::Always);
        fs.spec.payment.resources = Some(ResourceRequirements {
            requests: Some(BTreeMap::from([("cpu".into(), Quantity("2".into()))])),
            ..ResourceRequirements::default()
        });
        let objects = build(&fs, &defaults()).unwrap();
        let pod = objects
            .payment
            .deployment
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        let container = &pod.containers[0];
        assert_eq!(
            container.image.as_deref(),
            Some("registry.example/payment:1.2.3")
        );
        assert_eq!(container.image_pull_policy.as_deref(), Some("Always"));
        assert_eq!(
            container
                .resources
                .as_ref()
                .unwrap()
                .requests
                .as_ref()
                .unwrap()["cpu"]
                .0,
            "2"
        );
        let booking = objects
            .booking
            .deployment
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        let requests = booking.containers[0]
            .resources
            .as_ref()
            .unwrap()
            .requests
            .clone()
            .unwrap();
        assert_eq!(
            requests["cpu"].0, "250m",
            "defaults apply where the FlashSale says nothing"
        );
    }

    #[test]
    fn autoscaling_adds_an_hpa_and_leaves_replicas_to_it() {
        let fs = FlashSale::test("spring").booking_autoscaled(3, 30);
        let objects = build(&fs, &defaults()).unwrap();
        assert_eq!(
            objects.booking.deployment.spec.as_ref().unwrap().replicas,
            None
        );
        let hpa = objects.booking.hpa.unwrap().spec.unwrap();
        assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(3), 30));
        assert_eq!(hpa.scale_target_ref.name, "spring-booking");
        assert_eq!(hpa.scale_target_ref.kind, "Deployment");
        let metric = &hpa.metrics.unwrap()[0];
        assert_eq!(
            metric.resource.as_ref().unwrap().target.average_utilization,
            Some(70)
        );
        assert_eq!(objects.payment.deployment.spec.unwrap().replicas, Some(2));
        assert!(objects.payment.hpa.is_none());
    }

    #[test]
    fn suspending_scales_to_zero_and_drops_the_hpa() {
        let fs = FlashSale::test("spring")
            .booking_autoscaled(3, 30)
            .suspended();
        let objects = build(&fs, &defaults()).unwrap();
        assert_eq!(objects.booking.deployment.spec.unwrap().replicas, Some(0));
        assert_eq!(objects.payment.deployment.spec.unwrap().replicas, Some(0));
        assert!(objects.booking.hpa.is_none());
    }

    #[test]
    fn the_pdb_allows_one_pod_down_and_selects_the_workload() {
        let fs = FlashSale::test("spring");
        let pdb = build(&fs, &defaults()).unwrap().payment.pdb.spec.unwrap();
        assert_eq!(pdb.max_unavailable, Some(IntOrString::Int(1)));
        let labels = pdb.selector.unwrap().match_labels.unwrap();
        assert_eq!(labels[COMPONENT_LABEL], "payment");
        assert_eq!(labels[SALE_LABEL], "spring");
    }

    #[test]
    fn the_selector_string_matches_the_pod_labels() {
        assert_eq!(
            Workload::Booking.selector_string("spring"),
            "app.kubernetes.io/component=booking,booking-rush.dev/sale=spring"
        );
    }
}
