# The evalgate image: what the GitHub Action runs (`action.yml`), and a way to run evalgate anywhere
# without a Rust toolchain:
#     docker run --rm -v "$PWD:/work" -w /work ghcr.io/evalgate/evalgate:1 run --offline
#
# Three stages: a builder on the official Rust image (the toolchain CI tests with; the crate's
# rust-version is 1.88), a stage that picks git's few files out of Debian's package, and a small
# Debian runtime with only what `evalgate ci` needs (about 105 MB).
#
# No `# syntax=` line: it makes every BuildKit build pull a frontend image from Docker Hub, which
# runners that mirror or block Docker Hub cannot do, and nothing here needs a newer frontend.
# The base images are named by tag here; Renovate (renovate.json, `docker:pinDigests`) pins them
# by digest and keeps the digests current, each change a pull request this repository's CI
# builds.

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

# The real source, and the workflows `evalgate init` scaffolds (src/cli/init.rs includes them).
# COPY keeps the files' own modification times, which can be older than the stub build's outputs:
# touch them so Cargo rebuilds evalgate instead of keeping the stub.
COPY src src
COPY examples/workflows/evalgate-pr.yml examples/workflows/evalgate-pr.yml
COPY examples/workflows/evalgate-main.yml examples/workflows/evalgate-main.yml
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin evalgate \
    && cp target/release/evalgate /usr/local/bin/evalgate

# git, without what the gate never uses. `evalgate ci` reads the base commit for its baseline (a
# committed results file, or the base ref's suite re-run in a work tree) and fetches it into a
# shallow checkout, so it needs git's own binary and its HTTPS transport. Debian's git package
# also pulls in Perl (about 47 MB, for git-svn, send-email and the like) and git's manuals: this
# stage installs the package and keeps only
#   /usr/bin/git                        every command the gate runs is built into it;
#   git-upload-pack, git-receive-pack   the same binary under other names, for a fetch from a
#                                       local path (symbolic links, not copies);
#   /usr/lib/git-core/git-remote-http   `git fetch` over HTTPS, and git-remote-https naming it;
#   the shared libraries those two need that the runtime image lacks (libcurl-gnutls and its
#   own: nghttp2, ssh2, rtmp, psl, ldap, kerberos...), found with ldd;
#   /etc/ssl/certs/ca-certificates.crt  the CA roots, for git (GnuTLS) and for evalgate's TLS to
#                                       model providers and the GitHub API (rustls reads them).
# Versions are not pinned: Debian's security archive drops superseded versions, so a pin breaks
# the build at the next security update; the base image fixes the release.
FROM debian:bookworm-slim AS git
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN find / -xdev \( -type f -o -type l \) | sort > /tmp/before \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && mkdir -p /out/usr/bin /out/usr/lib/git-core /out/etc/ssl/certs \
    && cp /usr/bin/git /out/usr/bin/ \
    && ln -s git /out/usr/bin/git-upload-pack \
    && ln -s git /out/usr/bin/git-receive-pack \
    && cp /usr/lib/git-core/git-remote-http /out/usr/lib/git-core/ \
    && ln -s git-remote-http /out/usr/lib/git-core/git-remote-https \
    && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
    && ldd /usr/bin/git /usr/lib/git-core/git-remote-http \
       | awk '$3 ~ /^\// { print $3 }' | sort -u \
       | while read -r lib; do \
           real=$(readlink -f "$lib"); \
           grep -qxF "$real" /tmp/before && continue; \
           dir=$(dirname "$real"); \
           mkdir -p "/out$dir"; \
           cp "$real" "/out$dir/"; \
           [ "$(basename "$lib")" = "$(basename "$real")" ] \
             || ln -sf "$(basename "$real")" "/out$dir/$(basename "$lib")"; \
         done

FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="evalgate" \
      org.opencontainers.image.description="A CI regression gate for LLM prompts and models" \
      org.opencontainers.image.source="https://github.com/evalgate/evalgate" \
      org.opencontainers.image.url="https://github.com/evalgate/evalgate" \
      org.opencontainers.image.documentation="https://github.com/evalgate/evalgate/blob/main/docs/github-action.md" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"

COPY --from=git /out/ /
# Fails the build if a library git needs was not carried over. The safe.directory line: the
# workspace GitHub mounts belongs to the runner's user, not to the container's root, and without
# it git refuses to read it ("detected dubious ownership").
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN ! ldd /usr/bin/git /usr/lib/git-core/git-remote-http | grep 'not found' \
    && git --version \
    && git config --system --add safe.directory '*'

COPY --from=builder /usr/local/bin/evalgate /usr/local/bin/evalgate

# No USER: GitHub runs container actions as root and documents that a USER instruction can stop
# the action from reading the workspace and GITHUB_* files it mounts.
ENTRYPOINT ["/usr/local/bin/evalgate"]
