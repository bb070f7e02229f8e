# The short list of things a contributor types. Everything real lives in hack/ and cargo.
#
#   make demo       a local control plane, the operator and a simulated provider; see docs/demo.md
#   make test       every test (hack/test.sh)
#   make crds       regenerate manifests/crds from the Rust types
#   make release-manifests   a clusterctl provider repository in out/ (hack/release.sh)
#
# DEMO_ARGS passes flags to the demo, e.g. `make demo DEMO_ARGS=--keep-running`.

CARGO ?= cargo
DEMO_ARGS ?=

.PHONY: demo test crds release-manifests

# The API server binaries are built once and cached outside the repository (tools/k8sbins). The
# operator (and the kubectl plugin, for --keep-running) are built first: capt-demo runs the
# operator as a separate process, found next to its own binary.
demo:
	@assets="$$(tools/k8sbins/build.sh)" && \
	$(CARGO) build --bin capt-operator --bin kubectl-capt && \
	KUBEBUILDER_ASSETS="$$assets" $(CARGO) run -p capt-testkit --features demo --bin capt-demo -- $(DEMO_ARGS)

test:
	hack/test.sh

crds:
	$(CARGO) run --bin crd-gen

release-manifests:
	hack/release.sh
