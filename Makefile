# The verbs of the project. `make dev` runs the platform locally; `make test` runs every test.
SHELL := bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help dev dev-down deps test lint fmt bench bench-cost pgo openapi run-booking run-auth run-ticket run-payment run-psp reconcile provision-demo token

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

dev: ## set everything up and run the platform on loopback (idempotent)
	@scripts/dev.sh up

dev-down: ## stop what `make dev` started
	@scripts/dev.sh down

deps: ## start only PostgreSQL, Redis and the broker where nothing answers yet
	@scripts/dev.sh deps

test: deps ## run every test against real PostgreSQL, Redis and the broker
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --no-fail-fast; \
	fi

lint: ## formatting and clippy, as CI runs them
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

bench: ## the standard benchmark (profile-guided release builds): reserve via gateway and direct, this machine's ceilings, BENCHMARKS.md (BENCH_SECONDS, BENCH_RATE, BENCH_PGO, …)
	@scripts/bench.sh

pgo: ## profile-guided release builds of auth, booking, gateway and loadgen (target/pgo-use), trained on the benchmark's runs
	@scripts/pgo.sh

bench-cost: ## CPU time per reservation of each process at a fixed rate below saturation (COST_RATE, BENCH_SECONDS)
	@scripts/bench.sh cost

openapi: ## regenerate the committed OpenAPI documents
	$(CARGO) run --quiet --bin booking -- openapi > services/booking/openapi.json
	$(CARGO) run --quiet --bin auth -- openapi > services/auth/openapi.json
	$(CARGO) run --quiet --bin ticket -- openapi > services/ticket/openapi.json
	$(CARGO) run --quiet --bin payment -- openapi > services/payment/openapi.json

run-booking: deps ## run the booking service in the foreground
	$(CARGO) run --bin booking

run-auth: deps ## run the auth service in the foreground
	$(CARGO) run --bin auth

run-ticket: deps ## run the ticket (catalog) service in the foreground
	$(CARGO) run --bin ticket

run-payment: deps ## run the payment service in the foreground
	$(CARGO) run --bin payment

run-psp: ## run the PSP simulator in the foreground
	$(CARGO) run --bin payment -- psp-simulator

reconcile: ## reconcile a sale's payments, bookings and seats: make reconcile SALE=demo
	$(CARGO) run --quiet --bin reconcile -- --sale $(or $(SALE),demo) --wait-seconds 10

provision-demo: deps ## provision (or update) the demo sale
	$(CARGO) run --quiet --bin operator -- provision -f operator/examples/demo-sale.yaml

token: ## print a local access token (TOKEN=$$(make -s token))
	@$(CARGO) run --quiet --bin devtoken -- keygen >/dev/null && $(CARGO) run --quiet --bin devtoken -- mint

# The operator, its chart and a local kind cluster (kind-up, images, deploy need Docker and kind).
.PHONY: crd chart-check kind-up images deploy kind-down
VENV := .venv
CHART := charts/booking-rush
KIND_CLUSTER ?= booking-rush
NAMESPACE ?= booking-rush
IMAGE_TAG ?= dev
IMAGES := gateway auth ticket booking payment operator

crd: ## regenerate the FlashSale CRD (crds/ and the chart's copy) from the Rust types
	$(CARGO) run --quiet --bin operator -- crd > crds/flashsale.yaml.tmp
	mv crds/flashsale.yaml.tmp crds/flashsale.yaml
	cp crds/flashsale.yaml $(CHART)/crds/flashsale.yaml

$(VENV)/.chart-tools: scripts/chart-tools.txt
	@python3 -m venv --help >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-input -r scripts/chart-tools.txt
	@touch $@

chart-check: $(VENV)/.chart-tools ## render and lint the chart, validate every object, the CRD and the sample FlashSales offline
	$(VENV)/bin/python scripts/chart-check.py

kind-up: ## create the kind cluster with an ingress controller (localhost:8088) and metrics-server
	kind create cluster --config kind-config.yaml --name $(KIND_CLUSTER)
	kubectl apply -f https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.12.1/deploy/static/provider/kind/deploy.yaml
	kubectl apply -f https://github.com/kubernetes-sigs/metrics-server/releases/download/v0.7.2/components.yaml
	kubectl -n kube-system patch deployment metrics-server --type=json \
	  -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-insecure-tls"}]'
	kubectl -n ingress-nginx wait --for=condition=Available deployment/ingress-nginx-controller --timeout=300s

images: ## build the six images (docker/Dockerfile; with the profile of `make pgo` when there is one) and load them into the kind cluster
	for image in $(IMAGES); do \
	  docker build -f docker/Dockerfile --target $$image -t booking-rush/$$image:$(IMAGE_TAG) \
	    $(if $(wildcard target/pgo/merged.profdata),--build-context pgo=target/pgo) . || exit 1; \
	done
	kind load docker-image --name $(KIND_CLUSTER) $(foreach i,$(IMAGES),booking-rush/$(i):$(IMAGE_TAG))

deploy: $(VENV)/.chart-tools ## install the chart into the kind cluster (in-cluster PostgreSQL, Redis, Kafka) and the demo sale
	kubectl create namespace $(NAMESPACE) --dry-run=client -o yaml | kubectl apply -f -
	@mkdir -p .dev/kind-keys
	@ls .dev/kind-keys/*.pem >/dev/null 2>&1 || AUTH_KEYS_DIR=.dev/kind-keys $(CARGO) run --quiet --bin auth -- rotate-key
	kubectl -n $(NAMESPACE) create secret generic booking-rush-auth-keys --from-file=.dev/kind-keys \
	  --dry-run=client -o yaml | kubectl apply -f -
	kubectl apply --server-side -f crds/flashsale.yaml
	$(VENV)/bin/python scripts/chart-deploy.py $(NAMESPACE) $(CHART)/values-kind.yaml
	kubectl -n $(NAMESPACE) apply -f operator/examples/demo-sale.yaml
	kubectl -n $(NAMESPACE) wait fs/demo --for=jsonpath='{.status.phase}'=Live --timeout=300s
	kubectl -n $(NAMESPACE) get fs

kind-down: ## delete the kind cluster
	kind delete cluster --name $(KIND_CLUSTER)
