# syntax=docker/dockerfile:1
#
# The capt-operator image: manifests/deployment/deployment.yaml runs it as user 65532 with a
# read-only root filesystem.
#
#   docker build -t ghcr.io/capt-controlplane/capt-operator:v0.1.0 .
#
# UNTESTED: this file was written where no container runtime is available, so it has never been
# built. It is kept deliberately plain; please report what breaks.
#
# Why glibc and distroless/cc rather than a static musl binary on scratch: a musl build needs the
# x86_64-unknown-linux-musl target and a musl C toolchain for ring (kube's TLS crypto), neither of
# which could be installed or tried where this was written. The builder (rust:1.95, Debian
# bookworm, glibc 2.36) and gcr.io/distroless/cc-debian12 (glibc 2.36, libgcc) match, so the
# dynamically linked binary runs there. For a static image instead, add to the builder
#   apt-get install -y musl-tools && rustup target add x86_64-unknown-linux-musl
# build with --target x86_64-unknown-linux-musl, and use gcr.io/distroless/static-debian12:nonroot.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# rust-toolchain.toml pins 1.95.0 with rustfmt and clippy; a build needs neither, so use the
# image's toolchain as it is instead of letting rustup fetch components.
ENV RUSTUP_TOOLCHAIN=1.95.0 \
    CARGO_TERM_COLOR=never
COPY . .
# Cache mounts keep the registry and the target directory between builds; the binary is copied
# out because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p capt-controlplane --bin capt-operator \
    && install -D -m 0755 target/release/capt-operator /out/capt-operator

# distroless "nonroot": uid/gid 65532, no shell, no package manager; CA certificates included.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/capt-operator /usr/local/bin/capt-operator
USER 65532:65532
# Metrics and health (the operator's defaults; see `capt-operator --help`).
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/capt-operator"]
