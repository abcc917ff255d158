# The verbs of the project. `make dev` runs the platform locally; `make test` runs every test.
SHELL := bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help dev dev-down deps test lint fmt bench-gateway openapi run-booking run-auth provision-demo token

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

bench-gateway: ## measure what the gateway adds (release builds, wrk): GET availability and POST reserve, direct vs via gateway
	@scripts/bench-gateway.sh

openapi: ## regenerate the committed OpenAPI documents
	$(CARGO) run --quiet --bin booking -- openapi > services/booking/openapi.json
	$(CARGO) run --quiet --bin auth -- openapi > services/auth/openapi.json

run-booking: deps ## run the booking service in the foreground
	$(CARGO) run --bin booking

run-auth: deps ## run the auth service in the foreground
	$(CARGO) run --bin auth

provision-demo: deps ## provision (or update) the demo sale
	$(CARGO) run --quiet --bin provision -- apply -f operator/examples/demo-sale.yaml

token: ## print a local access token (TOKEN=$$(make -s token))
	@$(CARGO) run --quiet --bin devtoken -- keygen >/dev/null && $(CARGO) run --quiet --bin devtoken -- mint
