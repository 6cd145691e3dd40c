# syntax=docker/dockerfile:1
# The evalgate image: what the GitHub Action runs (`action.yml`), and a way to run evalgate anywhere
# without a Rust toolchain:
#     docker run --rm -v "$PWD:/work" -w /work ghcr.io/evalgate/evalgate:1 run --offline
#
# Two stages: a builder on the official Rust image (the toolchain CI tests with; the crate's
# rust-version is 1.88), and a small Debian runtime with only what `evalgate ci` needs.

FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Dependencies first, in their own layer: they change far less often than the source, so a source
# change rebuilds only evalgate. The workspace's bench member has to be present for Cargo to read
# the workspace; stub targets stand in for the real source.
COPY Cargo.toml Cargo.lock ./
COPY bench/fake-openai/Cargo.toml bench/fake-openai/Cargo.toml
RUN mkdir -p src bench/fake-openai/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > bench/fake-openai/src/main.rs \
    && cargo build --release --locked --bin evalgate \
    && rm -rf src

# The real source, and the workflow `evalgate init` scaffolds (src/cli/init.rs includes it).
# COPY keeps the files' own modification times, which can be older than the stub build's outputs:
# touch them so Cargo rebuilds evalgate instead of keeping the stub.
COPY src src
COPY examples/workflows/evalgate-pr.yml examples/workflows/evalgate-pr.yml
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin evalgate \
    && cp target/release/evalgate /usr/local/bin/evalgate

FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="evalgate" \
      org.opencontainers.image.description="A CI regression gate for LLM prompts and models" \
      org.opencontainers.image.source="https://github.com/evalgate/evalgate" \
      org.opencontainers.image.url="https://github.com/evalgate/evalgate" \
      org.opencontainers.image.documentation="https://github.com/evalgate/evalgate/blob/main/docs/github-action.md" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"

# ca-certificates: TLS to model providers and the GitHub API (rustls reads the system roots).
# git: `evalgate ci` reads the base commit for its baseline (a committed results file, or the
# base ref's suite re-run in a worktree).
# Versions are not pinned: Debian's security archive drops superseded versions, so a pin breaks
# the build at the next security update; the base image tag fixes the release.
# The safe.directory line: the workspace GitHub mounts belongs to the runner's user, not to the
# container's root, and without it git refuses to read it ("detected dubious ownership").
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'

COPY --from=builder /usr/local/bin/evalgate /usr/local/bin/evalgate

# No USER: GitHub runs container actions as root and documents that a USER instruction can stop
# the action from reading the workspace and GITHUB_* files it mounts.
ENTRYPOINT ["/usr/local/bin/evalgate"]
