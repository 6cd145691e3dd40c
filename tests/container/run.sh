#!/usr/bin/env bash
# The container test: builds evalgate's image from the repository's Dockerfile and runs it the
# way GitHub's runner runs a Docker container action (the same `docker run` line, folders, users
# and variables), against a fake model server and a fake GitHub REST API, on this machine only.
#
#     sudo bash tests/container/run.sh          # as root; from anywhere in the repository
#
# What it does, phase by phase (each is timed):
#   1. docker:  makes sure a Docker daemon answers; installs Debian's docker.io and starts dockerd
#               when there is none (and stops the dockerd it started, on exit).
#   2. bases:   makes the images the Dockerfile's FROM lines name, when they are missing, without
#               Docker Hub: debian:*-slim from `debootstrap --variant=minbase`, trimmed like the
#               real slim image; the builder (rust:*) from a bookworm root file system with gcc,
#               libc6-dev, git, pkg-config and this machine's Rust toolchain copied in. The
#               root file systems are cached (see "Cache" below).
#   3. build:   `docker build` of the repository's Dockerfile, unchanged, with the classic builder
#               (DOCKER_BUILDKIT=0: BuildKit would pull a frontend image); also with BuildKit when
#               buildx is installed and the Dockerfile has no `# syntax` line. Checks the image
#               size (at most 120 MB, as `docker image inspect` counts it: 120,000,000 bytes).
#   4. servers: builds and starts bench/fake-openai (the model) and tests/container/fake_github.py
#               (GitHub's REST API), both on 127.0.0.1.
#   5. scenarios, each asserting its results:
#       a. pass:       base and head of equal quality, `baseline: auto` (no artifact, no committed
#                      file, so the base ref is re-run in a git worktree): exit 0, verdict=pass,
#                      a step summary, exactly one comment created.
#       b. regression: a new head commit whose check no longer matches, same pull request: exit 1,
#                      verdict=fail, the same comment edited (PATCH), no second comment.
#       c. fork:       the head repository is a fork: exit 0, verdict=neutral, no comment, no
#                      model call.
#       d. docker stop during the head run, during the base re-run, and while waiting on
#                      GitHub's API: exit 143 well within `docker stop -t 10` (137 would mean
#                      SIGKILL), verdict=error, the error in the comment and the step summary;
#                      and `evalgate run` as PID 1: exit 143, the journal kept, the resume hint.
#       e. after every scenario: every file in the workspace belongs to the runner's user (uid
#                      1001), who can delete .evalgate/ and use git in it.
#   Prints `ok - ...` / `not ok - ...` per check, then `N passed, N failed`; exits 1 on a failure.
#
# Deviation from GitHub's `docker run` line: `--network host` instead of the job's bridge network,
# so that the container reaches the fake servers on 127.0.0.1 (this machine reaches no other
# address). Everything else (`--workdir /github/workspace`, `-e NAME` for each variable, the
# docker.sock and four /github/* mounts, `--rm` for foreground runs) follows actions/runner's
# ContainerActionHandler and DockerCommandManager.
#
# Needs: root, Debian (apt-get, debootstrap; installed when missing), Docker (installed when
# missing), python3, curl, setpriv, git, and the Rust toolchain (rustup's; copied into the
# builder image). Network: Debian's archive (debootstrap, apt-get in the image) and crates.io
# (cargo in the image). Measured on 2 cores: about 11 minutes the first time (3 for debootstrap,
# 7 for the image build, most of it compiling the dependencies); later runs reuse the cached root
# file systems, the base images and Docker's layer cache: about 4 minutes when src/ changed
# (compiling evalgate), and the scenarios themselves take about 15 seconds.
#
# Settings (environment):
#   EVALGATE_CONTAINER_CACHE    cache folder for the root file systems
#                               (default ${XDG_CACHE_HOME:-$HOME/.cache}/evalgate-container)
#   EVALGATE_CONTAINER_IMAGE    tag of the image built and tested (default evalgate:test)
#   EVALGATE_CONTAINER_CONTEXT  the build context holding the Dockerfile (default: this repository)
#   EVALGATE_CONTAINER_BUILD    0: test the image already tagged, build nothing (default 1)
#   EVALGATE_CONTAINER_BUILD_NETWORK  `docker build --network` (default: the daemon's default,
#                               as the runner's `docker build`; `host` if the bridge has no route)
#   EVALGATE_CONTAINER_MIRROR   Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   EVALGATE_CONTAINER_KEEP     1: keep the scratch folder (workspaces, logs) and print its path
#   EVALGATE_CONTAINER_KEEP_DOCKERD  1: leave running a dockerd this script started

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${EVALGATE_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/evalgate-container}
image=${EVALGATE_CONTAINER_IMAGE:-evalgate:test}
context=${EVALGATE_CONTAINER_CONTEXT:-$root}
build_image=${EVALGATE_CONTAINER_BUILD:-1}
build_network=${EVALGATE_CONTAINER_BUILD_NETWORK:-}
mirror=${EVALGATE_CONTAINER_MIRROR:-http://deb.debian.org/debian}
target_dir=${CARGO_TARGET_DIR:-$root/target}
max_image_bytes=120000000
# GitHub-hosted runners run the job as `runner`, uid 1001, which owns the workspace.
runner_uid=1001
repo=acme/support-bot

# Every container this run starts carries this label (the runner labels its own the same way),
# so the cleanup removes exactly those.
label=evalgate-container-test-$$
work=$(mktemp -d "${TMPDIR:-/tmp}/evalgate-container.XXXXXX")
chmod 755 "$work" # the runner's user must reach the workspaces below it
logs=$work/logs
mkdir -p "$logs" "$cache"

pids=()
dockerd_pid=
passed=0
failed=0
failures=()
timings=()
phase_name=
phase_started=$SECONDS

# --- reporting ---------------------------------------------------------------------------------

note() { printf '# %s\n' "$*"; }

ok() {
  passed=$((passed + 1))
  printf 'ok - %s\n' "$*"
}

not_ok() {
  failed=$((failed + 1))
  failures+=("$*")
  printf 'not ok - %s\n' "$*"
}

# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() {
  local description=$1
  shift
  if "$@"; then ok "$description"; else not_ok "$description"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

# phase NAME: ends the current phase (recording its duration) and starts the next.
phase() {
  if [ -n "$phase_name" ]; then
    timings+=("$(printf '%-38s %5ds' "$phase_name" $((SECONDS - phase_started)))")
  fi
  phase_name=$1
  phase_started=$SECONDS
  [ -z "$phase_name" ] || note "== $phase_name"
}

die() {
  not_ok "$*"
  exit 1
}

# show_tail FILE: the end of a log, as diagnostics under a failed check.
show_tail() {
  [ -f "$1" ] || return 0
  tail -n "${2:-25}" "$1" | sed 's/^/#   | /'
}

# wait_for SECONDS COMMAND...: polls the command every 0.2 s until it succeeds; fails after
# SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

cleanup() {
  local status=$?
  set +e
  phase ""
  docker ps -aq --filter "label=$label" 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ -n "$dockerd_pid" ] && [ "${EVALGATE_CONTAINER_KEEP_DOCKERD:-0}" != 1 ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ "${EVALGATE_CONTAINER_KEEP:-0}" = 1 ]; then
    note "kept $work"
  else
    if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
      rm -rf "$cache/last-logs"
      cp -r "$logs" "$cache/last-logs" 2>/dev/null && note "logs of this run: $cache/last-logs"
    fi
    rm -rf "$work"
  fi
  if [ "${#timings[@]}" -gt 0 ]; then
    note "phases:"
    printf '#   %s\n' "${timings[@]}"
  fi
  if [ "$failed" -gt 0 ]; then
    note "failed:"
    printf '#   %s\n' "${failures[@]}"
  fi
  echo "$passed passed, $failed failed"
  if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then status=1; fi
  exit "$status"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || die "run as root: the test starts dockerd, runs debootstrap and chowns workspaces"

# --- 1. a Docker daemon ------------------------------------------------------------------------

phase docker
docker_up() { docker info >/dev/null 2>&1; }
if ! docker_up; then
  if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    note "installing Debian's docker.io"
    apt-get update -qq >"$logs/apt-docker.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >>"$logs/apt-docker.log" 2>&1 \
      || { show_tail "$logs/apt-docker.log"; die "apt-get install docker.io"; }
    # Where an init system runs, the package has started the daemon itself.
    wait_for 5 docker_up || true
  fi
fi
if ! docker_up; then
  dockerd_log=$(mktemp "${TMPDIR:-/tmp}/evalgate-dockerd.XXXXXX.log")
  note "starting dockerd (log: $dockerd_log)"
  dockerd >"$dockerd_log" 2>&1 &
  dockerd_pid=$!
  dockerd_starting() { kill -0 "$dockerd_pid" 2>/dev/null || return 0; docker_up; }
  # Until it answers, or exits.
  wait_for 60 dockerd_starting || true
  docker_up || { show_tail "$dockerd_log"; die "dockerd did not start (its log is above)"; }
fi
ok "a Docker daemon answers (server $(docker version -f '{{.Server.Version}}' 2>/dev/null))"

# --- 2. the base images ------------------------------------------------------------------------

phase "base images"

# The images the Dockerfile's FROM lines name, one "ROLE IMAGE" line each, each image once:
# `runtime` for the last stage's, `stage` for the others. Global ARGs (before the first FROM)
# are expanded with their defaults, so `ARG RUST_IMAGE=rust:1.95-bookworm` + `FROM ${RUST_IMAGE}`
# works as well as a literal name; stage names and `scratch` are skipped.
base_images() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
args, stages, froms = {}, set(), []
def expand(s):
    def sub(m):
        name, default = m.group(1) or m.group(4), m.group(3)
        value = args.get(name) or ""
        return value if value else (default or "")
    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}|\$(\w+)", sub, s)
for line in text.splitlines():
    words = line.split()
    if not words or words[0].startswith("#"):
        continue
    op = words[0].upper()
    if op == "ARG" and not froms:
        for w in words[1:]:
            name, _, default = w.partition("=")
            args[name] = default.strip('"\'')
    elif op == "FROM":
        rest = [w for w in words[1:] if not w.startswith("--")]
        image = expand(rest[0])
        if len(rest) >= 3 and rest[1].upper() == "AS":
            stages.add(rest[2].lower())
        froms.append(image)
seen = set()
for i, image in reversed(list(enumerate(froms))):
    if image.lower() in stages or image == "scratch" or image in seen:
        continue
    seen.add(image)
    print("runtime" if i == len(froms) - 1 else "stage", image)
PY
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null && return 0
  note "installing debootstrap"
  apt-get update -qq >"$logs/apt-debootstrap.log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >>"$logs/apt-debootstrap.log" 2>&1 \
    || { show_tail "$logs/apt-debootstrap.log"; die "apt-get install debootstrap"; }
}

# The Debian release an image name is built on (rust:1.95-bookworm, debian:bookworm-slim).
release_of() {
  case $1 in
    *trixie*) echo trixie ;;
    *bullseye*) echo bullseye ;;
    *) echo bookworm ;;
  esac
}

# slim_down DIR SUITE: what Debian's official slim images do (debuerreotype's --slimify), and
# their apt settings: no documentation, man pages or translations, no package lists or caches;
# the sources of the release, its updates and its security archive.
slim_down() {
  local dir=$1 suite=$2
  find "$dir/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/groff/* \
    "$dir"/usr/share/lintian/* "$dir"/usr/share/linda/*
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/var/cache/debconf/*-old "$dir"/var/lib/dpkg/*-old "$dir"/var/log/*.log \
    "$dir"/var/log/apt/* "$dir"/etc/resolv.conf "$dir"/etc/hostname "$dir"/etc/apt/sources.list
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' >"$dir/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$dir/etc/apt/apt.conf.d/docker-autoremove-suggests"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# rootfs_tar NAME SUITE [PACKAGES]: sets $tarball to a cached tarball of a minbase root file
# system of SUITE with PACKAGES (comma-separated), made with debootstrap on first use.
rootfs_tar() {
  local name=$1 suite=$2 packages=${3:-}
  tarball=$cache/rootfs-$name-$suite.tar
  if [ ! -s "$tarball" ]; then
    ensure_debootstrap
    local dir=$work/rootfs-$name
    note "debootstrap $suite ($name${packages:+: $packages}) into $dir"
    debootstrap --variant=minbase ${packages:+--include="$packages"} "$suite" "$dir" "$mirror" \
      >"$logs/debootstrap-$name.log" 2>&1 \
      || { show_tail "$logs/debootstrap-$name.log"; die "debootstrap $name"; }
    slim_down "$dir" "$suite"
    tar -C "$dir" --numeric-owner -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$dir"
  else
    note "reusing $tarball"
  fi
}

# make_runtime IMAGE: debian:SUITE-slim, from a trimmed minbase root file system.
make_runtime() {
  local suite
  suite=$(release_of "$1")
  rootfs_tar minbase "$suite"
  docker import --change 'CMD ["bash"]' "$tarball" "$1" >/dev/null
}

# make_builder IMAGE: the official Rust image's layout (toolchain under /usr/local, cargo and
# rustc on PATH, CARGO_HOME=/usr/local/cargo) with this machine's toolchain copied in.
make_builder() {
  local suite sysroot version dir
  suite=$(release_of "$1")
  rootfs_tar builder "$suite" gcc,libc6-dev,ca-certificates,git,pkg-config
  sysroot=$(rustc --print sysroot)
  version=$(rustc --version | awk '{print $2}')
  case $1 in
    *:"${version%.*}"* | *:"$version"*) ;;
    *) note "the Dockerfile asks for $1; this machine's toolchain is $version: using it" ;;
  esac
  dir=$work/builder-rootfs
  mkdir -p "$dir"
  tar -C "$dir" -xf "$tarball"
  mkdir -p "$dir/usr/local/rust" "$dir/usr/local/cargo/bin"
  # The toolchain without its HTML documentation (800 MB).
  tar -C "$sysroot" --exclude=./share/doc -cf - . | tar -C "$dir/usr/local/rust" -xf -
  for tool in "$dir"/usr/local/rust/bin/*; do
    ln -s "/usr/local/rust/bin/${tool##*/}" "$dir/usr/local/cargo/bin/${tool##*/}"
  done
  # This machine's trust store: its egress may intercept TLS with a local authority, which cargo
  # in the image must trust to reach crates.io as cargo on the machine does.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
  fi
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
  tar -C "$dir" --numeric-owner -cf - . | docker import \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change "ENV RUST_VERSION=$version" \
    --change 'CMD ["bash"]' - "$1" >/dev/null
  rm -rf "$dir"
}

[ -f "$context/Dockerfile" ] || die "no Dockerfile in $context"
mapfile -t bases < <(base_images "$context/Dockerfile")
[ "${#bases[@]}" -gt 0 ] || die "no base image found in $context/Dockerfile"
for entry in "${bases[@]}"; do
  role=${entry%% *}
  base=${entry#* }
  if docker image inspect "$base" >/dev/null 2>&1; then
    ok "base image $base ($role) is present"
    continue
  fi
  case $base in
    rust:* | */rust:*) make_builder "$base" ;;
    debian:* | */debian:*) make_runtime "$base" ;;
    *) die "cannot make the base image $base without a registry: teach make_builder/make_runtime about it" ;;
  esac
  if docker image inspect "$base" >/dev/null 2>&1; then
    ok "base image $base ($role) made locally ($(docker image inspect -f '{{.Size}}' "$base" | awk '{printf "%.1f MB", $1/1e6}'))"
  else
    not_ok "base image $base ($role) made locally"
  fi
done

# --- 3. the image ------------------------------------------------------------------------------

phase "image build"
# The runner's own build is `docker build -t TAG -f DIR/Dockerfile DIR`.
build_options=()
[ -z "$build_network" ] || build_options+=(--network "$build_network")
if [ "$build_image" = 1 ]; then
  note "DOCKER_BUILDKIT=0 docker build --force-rm ${build_options[*]:+${build_options[*]} }-t $image -f $context/Dockerfile $context (log: $logs/build.log)"
  build_started=$SECONDS
  # --force-rm: the classic builder keeps a failed step's container otherwise.
  if DOCKER_BUILDKIT=0 docker build --force-rm "${build_options[@]}" -t "$image" \
    -f "$context/Dockerfile" "$context" >"$logs/build.log" 2>&1; then
    ok "the Dockerfile builds with the classic builder ($((SECONDS - build_started)) s)"
  else
    show_tail "$logs/build.log" 40
    die "the Dockerfile builds with the classic builder"
  fi
else
  docker image inspect "$image" >/dev/null 2>&1 || die "EVALGATE_CONTAINER_BUILD=0 but there is no image $image"
  note "EVALGATE_CONTAINER_BUILD=0: testing the existing $image"
fi

if grep -q '^#[[:space:]]*syntax[[:space:]]*=' "$context/Dockerfile"; then
  not_ok "the Dockerfile has no '# syntax' line (BuildKit would pull its frontend image from Docker Hub)"
  syntax_line=1
else
  ok "the Dockerfile has no '# syntax' line"
  syntax_line=0
fi
if ! docker buildx version >/dev/null 2>&1; then
  ok "the Dockerfile builds with BuildKit # SKIP buildx is not installed"
elif [ "$syntax_line" = 1 ]; then
  ok "the Dockerfile builds with BuildKit # SKIP its '# syntax' line needs Docker Hub"
elif [ "$build_image" = 1 ]; then
  build_started=$SECONDS
  if DOCKER_BUILDKIT=1 docker build "${build_options[@]}" -t "$image-buildkit" \
    -f "$context/Dockerfile" "$context" >"$logs/build-buildkit.log" 2>&1; then
    ok "the Dockerfile builds with BuildKit ($((SECONDS - build_started)) s)"
  else
    show_tail "$logs/build-buildkit.log" 40
    not_ok "the Dockerfile builds with BuildKit"
  fi
fi

size=$(docker image inspect -f '{{.Size}}' "$image")
runtime_base=${bases[0]#* }
base_size=$(docker image inspect -f '{{.Size}}' "$runtime_base" 2>/dev/null || echo 0)
note "image $image: $size bytes ($(awk -v s="$size" 'BEGIN{printf "%.1f", s/1e6}') MB; $runtime_base is $(awk -v s="$base_size" 'BEGIN{printf "%.1f", s/1e6}') MB of it)"
if [ "$size" -le "$max_image_bytes" ]; then
  ok "the image is at most 120 MB ($(awk -v s="$size" 'BEGIN{printf "%.1f", s/1e6}') MB)"
else
  not_ok "the image is at most 120 MB ($(awk -v s="$size" 'BEGIN{printf "%.1f", s/1e6}') MB)"
fi
check "the image has no USER (GitHub runs container actions as root)" \
  test -z "$(docker image inspect -f '{{.Config.User}}' "$image")"
runs_evalgate() { docker run --rm --label "$label" "$image" --version >"$logs/version.log" 2>&1; }
check "the image's entrypoint runs evalgate (evalgate --version)" runs_evalgate

# --- 4. the fake servers -----------------------------------------------------------------------

phase "fake servers"
(cd "$root" && cargo build --release -q -p fake-openai) >"$logs/fake-openai-build.log" 2>&1 \
  || { show_tail "$logs/fake-openai-build.log"; die "cargo build -p fake-openai"; }

# start_server NAME COMMAND...: starts a server that prints its port on its first stdout line;
# sets $port.
start_server() {
  local name=$1 out=$logs/$1.out
  shift
  "$@" >"$out" 2>"$logs/$name.err" &
  pids+=($!)
  has_port() { [ -s "$out" ] && head -1 "$out" | grep -q '^[0-9][0-9]*$'; }
  wait_for 20 has_port || { show_tail "$logs/$name.err"; die "$name did not print its port"; }
  port=$(head -1 "$out")
}

start_server model "$target_dir/release/fake-openai" 0 5
model_port=$port
start_server github python3 "$here/fake_github.py" serve "$logs/github.jsonl"
github_port=$port
github_log=$logs/github.jsonl
ok "fake model server on 127.0.0.1:$model_port, fake GitHub on 127.0.0.1:$github_port"

# gh COUNT|FIELD ARGS...: questions about the fake GitHub's request log (see fake_github.py).
gh() { python3 "$here/fake_github.py" "$1" "$github_log" "${@:2}"; }
gh_lines() { wc -l <"$github_log" | tr -d ' '; }
# model_requests PORT: how many calls the fake model server has had.
model_requests() {
  local n
  n=$(curl -sf "http://127.0.0.1:$1/stats" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p') || true
  echo "${n:-0}"
}

# --- the runner's world ------------------------------------------------------------------------

# The action's inputs with their defaults, from action.yml, as INPUT_NAME=VALUE lines (the runner
# upper-cases the names and keeps underscores); `${{ github.token }}` is the fake token.
action_inputs() {
  python3 - "$root/action.yml" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
inside, name = False, None
for line in lines:
    if re.match(r"^inputs:\s*$", line):
        inside = True
        continue
    if inside and re.match(r"^\S", line):
        break
    if not inside:
        continue
    m = re.match(r"^  ([A-Za-z0-9_-]+):\s*$", line)
    if m:
        name = m.group(1)
        print(f"INPUT_{name.upper().replace(' ', '_')}=")
        continue
    m = re.match(r"^    default:\s*(.*)$", line)
    if m and name:
        value = m.group(1).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        value = value.replace("${{ github.token }}", "ghs_containertest0123456789")
        print(f"INPUT_{name.upper().replace(' ', '_')}={value}")
PY
}

# The container's arguments: `runs.args` of action.yml (a flow list of plain strings).
action_args() {
  python3 - "$root/action.yml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
runs = text.split("\nruns:", 1)[1]
m = re.search(r"^  args:\s*\[(.*)\]\s*$", runs, re.M)
for arg in (m.group(1).split(",") if m else []):
    print(arg.strip().strip("'\""))
PY
}

mapfile -t container_args < <(action_args)
[ "${#container_args[@]}" -gt 0 ] || die "no runs.args in action.yml"

home_1001=$work/home-1001
mkdir -p "$home_1001"
chown "$runner_uid:$runner_uid" "$home_1001"

# as_runner COMMAND...: runs a command as the runner's user, as a later step of the job would;
# its output goes to $logs/as-runner.log, and is shown when it fails.
as_runner() {
  local status=0
  printf '$ %s\n' "$*" >>"$logs/as-runner.log"
  setpriv --reuid="$runner_uid" --regid="$runner_uid" --clear-groups \
    env HOME="$home_1001" PATH="$PATH" "$@" >"$logs/as-runner.last" 2>&1 || status=$?
  cat "$logs/as-runner.last" >>"$logs/as-runner.log"
  [ "$status" = 0 ] || show_tail "$logs/as-runner.last" 6
  return "$status"
}

# new_job NAME: the runner's folders for one job, as on a hosted runner (/home/runner/work/...):
# $job/work/_temp/{_github_home,_github_workflow,_runner_file_commands} and the workspace
# $ws = $job/work/support-bot/support-bot, all owned by the runner's user.
new_job() {
  job=$work/$1
  temp=$job/work/_temp
  ws=$job/work/support-bot/support-bot
  mkdir -p "$temp/_github_home" "$temp/_github_workflow" "$temp/_runner_file_commands" "$ws"
}

# g ARGS...: git in the workspace, as the fixture's author (run as root on a folder the runner's
# user owns, hence safe.directory).
g() {
  git -c safe.directory='*' -c user.name='Alice Example' -c user.email=alice@example.com \
    -c init.defaultBranch=main -c commit.gpgsign=false -C "$ws" "$@"
}

# write_suite PORT CASES CONCURRENCY PROMPT CHECK: the suite in $ws: one openai-compatible model
# at the fake server, one prompt, CASES cases expecting "42", one `contains` check of CHECK.
write_suite() {
  local port=$1 cases=$2 concurrency=$3 prompt=$4 check_value=$5
  mkdir -p "$ws/prompts" "$ws/data"
  cat >"$ws/evalgate.toml" <<EOF
[suite]
name = "support-bot"
description = "The container test's suite"

[defaults]
temperature = 0
max_tokens = 16
concurrency = $concurrency

[models.fake]
provider = "openai-compatible"
base_url = "http://127.0.0.1:$port/v1"
model = "fake-model"
price = { input_per_mtok = 0.15, output_per_mtok = 0.60 }

[prompts.answer]
file = "prompts/answer.txt"

[datasets.faq]
file = "data/faq.jsonl"

[[checks]]
type = "contains"
value = "$check_value"
metric = "accuracy"

[gate]
min_pass_rate = 0.9
max_error_rate = 0.0

[gate.metrics.accuracy]
max_drop = 0.02
EOF
  printf '%s\n' "$prompt" >"$ws/prompts/answer.txt"
  : >"$ws/data/faq.jsonl"
  for i in $(seq 1 "$cases"); do
    printf '{"id": "q%03d", "question": "What is %d times 42 divided by %d?", "expected": "42"}\n' \
      "$i" "$i" "$i" >>"$ws/data/faq.jsonl"
  done
}

# make_repo PORT CASES CONCURRENCY: a repository in $ws with a base commit on main and a head
# commit on a branch that rewords the prompt (same quality), checked out detached at the head as
# actions/checkout leaves a pull request. Sets $base_sha and $head_sha.
make_repo() {
  g init -q
  write_suite "$1" "$2" "$3" $'system:\nYou answer arithmetic questions.\nuser:\n{{ question }}' '{{ expected }}'
  g add -A
  g commit -q -m "Add the support-bot suite"
  base_sha=$(g rev-parse HEAD)
  g checkout -q -b reword-prompt
  write_suite "$1" "$2" "$3" $'system:\nYou answer arithmetic questions. Answer with the number.\nuser:\n{{ question }}' '{{ expected }}'
  g commit -q -am "Reword the prompt"
  head_sha=$(g rev-parse HEAD)
  g checkout -q --detach "$head_sha"
}

# write_event NUMBER HEAD_REPO: the pull_request event payload in _github_workflow/event.json,
# with GitHub's webhook fields (a fork's head repository is another one, with `fork: true`).
write_event() {
  python3 - "$temp/_github_workflow/event.json" "$1" "$repo" "$2" "$base_sha" "$head_sha" <<'PY'
import json, sys
path, number, base_repo, head_repo, base_sha, head_sha = sys.argv[1:]
number = int(number)
def repository(full_name, rid):
    owner, name = full_name.split("/")
    return {"id": rid, "node_id": f"R_kgDO{rid}", "name": name, "full_name": full_name,
            "private": False, "owner": {"login": owner, "id": rid + 1, "type": "User"},
            "html_url": f"https://github.com/{full_name}", "fork": full_name != base_repo,
            "url": f"https://api.github.com/repos/{full_name}", "default_branch": "main"}
base = repository(base_repo, 1296269)
head = repository(head_repo, 1296269 if head_repo == base_repo else 7700001)
sender = {"login": "alice", "id": 2, "type": "User"}
event = {
    "action": "synchronize",
    "number": number,
    "before": base_sha,
    "after": head_sha,
    "pull_request": {
        "url": f"https://api.github.com/repos/{base_repo}/pulls/{number}",
        "id": 1000 + number, "node_id": f"PR_kwDO{number}",
        "html_url": f"https://github.com/{base_repo}/pull/{number}",
        "number": number, "state": "open", "locked": False,
        "title": "Reword the prompt", "user": sender, "body": "Same answers, clearer prompt.",
        "labels": [], "draft": False, "merged": False,
        "head": {"label": f"{head_repo.split('/')[0]}:reword-prompt", "ref": "reword-prompt",
                 "sha": head_sha, "user": head["owner"], "repo": head},
        "base": {"label": f"{base_repo.split('/')[0]}:main", "ref": "main",
                 "sha": base_sha, "user": base["owner"], "repo": base},
        "author_association": "MEMBER",
    },
    "repository": base,
    "sender": sender,
}
with open(path, "w") as f:
    json.dump(event, f, indent=2)
PY
}

# prepare_step NUMBER [INPUT=VALUE...]: the step's file-command files (created by the runner,
# empty, per step) and the variables the runner passes, in its order, into $step_env; then
# everything under $job is given to the runner's user. Sets $output_file and $summary_file.
prepare_step() {
  local number=$1 guid
  shift
  guid=$(cat /proc/sys/kernel/random/uuid)
  local fc=$temp/_runner_file_commands
  for kind in add_path set_env step_summary save_state set_output; do
    : >"$fc/${kind}_$guid"
  done
  output_file=$fc/set_output_$guid
  summary_file=$fc/step_summary_$guid
  # The step's `env:` (the workflow's secrets), then the inputs, then the runner's variables.
  step_env=(OPENAI_API_KEY=sk-container-test-not-a-key)
  local line name override
  while IFS= read -r line; do
    name=${line%%=*}
    for override in "$@"; do
      [ "${override%%=*}" = "${name#INPUT_}" ] && line="$name=${override#*=}"
    done
    step_env+=("$line")
  done < <(action_inputs)
  step_env+=(
    HOME=/github/home
    GITHUB_JOB=evalgate
    GITHUB_REF="refs/pull/$number/merge"
    GITHUB_SHA="$head_sha"
    GITHUB_REPOSITORY="$repo"
    GITHUB_REPOSITORY_OWNER="${repo%%/*}"
    GITHUB_REPOSITORY_OWNER_ID=1
    GITHUB_RUN_ID=$((16588214 + number))
    GITHUB_RUN_NUMBER="$number"
    GITHUB_RETENTION_DAYS=90
    GITHUB_RUN_ATTEMPT=1
    GITHUB_REPOSITORY_ID=1296269
    GITHUB_ACTOR_ID=2
    GITHUB_ACTOR=alice
    GITHUB_TRIGGERING_ACTOR=alice
    GITHUB_WORKFLOW=evalgate
    GITHUB_HEAD_REF=reword-prompt
    GITHUB_BASE_REF=main
    GITHUB_EVENT_NAME=pull_request
    GITHUB_SERVER_URL=https://github.com
    GITHUB_API_URL="http://127.0.0.1:$github_port"
    GITHUB_GRAPHQL_URL="http://127.0.0.1:$github_port/graphql"
    GITHUB_REF_NAME="$number/merge"
    GITHUB_REF_PROTECTED=false
    GITHUB_REF_TYPE=branch
    GITHUB_WORKFLOW_REF="$repo/.github/workflows/evalgate.yml@refs/pull/$number/merge"
    GITHUB_WORKFLOW_SHA="$head_sha"
    GITHUB_WORKSPACE=/github/workspace
    GITHUB_ACTION=__evalgate_evalgate
    GITHUB_EVENT_PATH=/github/workflow/event.json
    GITHUB_ACTION_REPOSITORY=evalgate/evalgate
    GITHUB_ACTION_REF=v1
    GITHUB_PATH="/github/file_commands/add_path_$guid"
    GITHUB_ENV="/github/file_commands/set_env_$guid"
    GITHUB_STEP_SUMMARY="/github/file_commands/step_summary_$guid"
    GITHUB_STATE="/github/file_commands/save_state_$guid"
    GITHUB_OUTPUT="/github/file_commands/set_output_$guid"
    RUNNER_OS=Linux
    RUNNER_ARCH=X64
    RUNNER_NAME="GitHub Actions 1"
    RUNNER_ENVIRONMENT=github-hosted
    RUNNER_TOOL_CACHE=/opt/hostedtoolcache
    RUNNER_TEMP="$temp"
    RUNNER_WORKSPACE="$job/work/support-bot"
    # Never called: evalgate does not use the Actions runtime services.
    ACTIONS_RUNTIME_URL=http://127.0.0.1:9/
    ACTIONS_RUNTIME_TOKEN=not-a-token
    ACTIONS_CACHE_URL=http://127.0.0.1:9/
    ACTIONS_RESULTS_URL=http://127.0.0.1:9/
  )
  chown -R "$runner_uid:$runner_uid" "$job"
}

# docker_run_line NAME [--rm]: the runner's `docker run` options (DockerCommandManager.DockerRun)
# into $run_line: `-e NAME` for each variable (values come from the docker CLI's environment),
# the watermark variables, the mounts, the image and the action's args.
docker_run_line() {
  run_line=(--name "$1" --label "$label" --workdir /github/workspace)
  [ "${2:-}" != --rm ] || run_line+=(--rm)
  local pair
  for pair in "${step_env[@]}"; do run_line+=(-e "${pair%%=*}"); done
  run_line+=(-e GITHUB_ACTIONS=true -e CI=true)
  # The deviation: the host's network, to reach the fake servers on 127.0.0.1.
  run_line+=(--network host)
  run_line+=(
    -v /var/run/docker.sock:/var/run/docker.sock
    -v "$temp/_github_home":/github/home
    -v "$temp/_github_workflow":/github/workflow
    -v "$temp/_runner_file_commands":/github/file_commands
    -v "$ws":/github/workspace
    "$image" "${container_args[@]}"
  )
}

# run_step NAME: runs the step in the foreground like the runner; sets $exit_code; the output is
# in $logs/NAME.log.
run_step() {
  docker_run_line "evalgatetest_$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')" --rm
  exit_code=0
  env "${step_env[@]}" docker run "${run_line[@]}" >"$logs/$1.log" 2>&1 || exit_code=$?
}

# output NAME: the value of a step output in $output_file (both `name=value` and the heredoc form
# `name<<DELIMITER`; the last one wins, as for the runner).
output() {
  awk -v want="$1" '
    delim != "" { if ($0 == delim) { if (name == want) found = value; delim = ""; next }
                  value = started ? value "\n" $0 : $0; started = 1; next }
    /^[A-Za-z_][A-Za-z0-9_-]*<</ { name = substr($0, 1, index($0, "<<") - 1)
                  delim = substr($0, index($0, "<<") + 2); value = ""; started = 0; next }
    /=/ { n = substr($0, 1, index($0, "=") - 1); if (n == want) found = substr($0, index($0, "=") + 1) }
    END { printf "%s", found }' "$output_file"
}

# check_ownership SCENARIO: whatever evalgate left in the workspace belongs to the runner's user,
# who can delete .evalgate/ and use git in the workspace.
check_ownership() {
  local stray
  stray=$(find "$ws" ! -uid "$runner_uid" -printf '%u:%g %p\n' 2>/dev/null | sed "s|$ws/||")
  if [ -z "$stray" ]; then
    ok "$1: every file in the workspace belongs to uid $runner_uid"
  else
    not_ok "$1: every file in the workspace belongs to uid $runner_uid ($(wc -l <<<"$stray") do not)"
    head -n 12 <<<"$stray" | sed 's/^/#   /'
  fi
  check "$1: uid $runner_uid can git status the workspace" \
    as_runner git -C "$ws" status --porcelain
  # shellcheck disable=SC2016 # $1 is the inner shell's argument
  check "$1: uid $runner_uid can git add to the workspace's index and objects" \
    as_runner sh -c 'echo x >"$1/.probe" && git -C "$1" add .probe && git -C "$1" rm -q --cached .probe && rm "$1/.probe"' \
    sh "$ws"
  check "$1: uid $runner_uid can rm -rf .evalgate" as_runner rm -rf "$ws/.evalgate"
}

# check_log SCENARIO: the end of the container's output, when a check of the scenario failed.
scenario_failed_before=0
begin_scenario() { scenario_failed_before=$failed; }
end_scenario() {
  if [ "$failed" -gt "$scenario_failed_before" ]; then
    note "the container's output ($logs/$1.log):"
    show_tail "$logs/$1.log" 30
  fi
}

# --- 5a. pass ----------------------------------------------------------------------------------

phase "scenario a: pass"
begin_scenario
new_job pr7
make_repo "$model_port" 6 4
write_event 7 "$repo"
prepare_step 7
since=$(gh_lines)
run_step a-pass
check_eq "a: the step exits 0" 0 "$exit_code"
check_eq "a: output verdict=pass" pass "$(output verdict)"
check_eq "a: output pass_rate=1" 1 "$(output pass_rate)"
check "a: the step summary is written" test -s "$summary_file"
check "a: the results file is in the workspace" test -s "$ws/.evalgate/results.json"
check_eq "a: the baseline artifact was looked for (baseline: auto)" 1 \
  "$(gh count --since "$since" --method GET --path "^/repos/$repo/actions/artifacts$")"
check_eq "a: exactly one comment created" 1 \
  "$(gh count --since "$since" --method POST --path "^/repos/$repo/issues/7/comments$")"
check_eq "a: no comment edited" 0 "$(gh count --since "$since" --method PATCH)"
check_eq "a: the comment carries the sticky marker" 1 \
  "$(gh count --since "$since" --method POST --body 'evalgate:sticky-comment suite=support-bot')"
check_eq "a: every GitHub call sent the token" 0 \
  "$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]).readlines()[int(sys.argv[2]):] if not json.loads(l)["authorization"]))' "$github_log" "$since")"
check "a: the base ref's re-run left no worktree registered" \
  test -z "$(ls -A "$ws/.git/worktrees" 2>/dev/null)"
comment_id=$(gh field response.id --since "$since" --method POST || echo none)
end_scenario a-pass
check_ownership a

# --- 5b. regression ----------------------------------------------------------------------------

phase "scenario b: regression"
begin_scenario
# A new push to the same pull request: its check now wants text the model never answers.
g checkout -q reword-prompt
write_suite "$model_port" 6 4 $'system:\nYou answer arithmetic questions. Answer with the number.\nuser:\n{{ question }}' 'forty-two'
g commit -q -am "Spell the number out"
head_sha=$(g rev-parse HEAD)
g checkout -q --detach "$head_sha"
write_event 7 "$repo"
prepare_step 7
since=$(gh_lines)
run_step b-regression
check_eq "b: the step exits 1" 1 "$exit_code"
check_eq "b: output verdict=fail" fail "$(output verdict)"
check "b: the step summary is written" test -s "$summary_file"
check "b: regressed cases are annotated (::error)" grep -q '^::error' "$logs/b-regression.log"
check_eq "b: no second comment created" 0 "$(gh count --since "$since" --method POST)"
check_eq "b: the comment of scenario a edited once" 1 \
  "$(gh count --since "$since" --method PATCH --path "^/repos/$repo/issues/comments/$comment_id$")"
check_eq "b: the edited comment reports the failure" 1 \
  "$(gh count --since "$since" --method PATCH --body 'fail')"
end_scenario b-regression
check_ownership b

# --- 5c. fork ----------------------------------------------------------------------------------

phase "scenario c: fork"
begin_scenario
new_job pr8
make_repo "$model_port" 6 4
write_event 8 mallory/support-bot
prepare_step 8
since=$(gh_lines)
calls_before=$(model_requests "$model_port")
run_step c-fork
check_eq "c: the step exits 0" 0 "$exit_code"
check_eq "c: output verdict=neutral" neutral "$(output verdict)"
check "c: the step summary says why" grep -qi fork "$summary_file"
check_eq "c: no comment created" 0 "$(gh count --since "$since" --method POST)"
check_eq "c: no comment edited" 0 "$(gh count --since "$since" --method PATCH)"
check_eq "c: no model called" "$calls_before" "$(model_requests "$model_port")"
end_scenario c-fork
check_ownership c

# --- 5d. docker stop ---------------------------------------------------------------------------

# A slow model: each call takes 2 s, one at a time, 30 cases: a stage lasts a minute.
start_server slow-model "$target_dir/release/fake-openai" 0 2000
slow_port=$port

# stop_and_check NAME CONTAINER: `docker stop -t 10` as the runner cancels a job; checks that
# evalgate handled SIGTERM (exit 143, not SIGKILL's 137) within the grace; keeps its output in
# $logs/NAME.log and removes the container.
stop_and_check() {
  local name=$1 container=$2 started elapsed_ms code
  started=${EPOCHREALTIME/./}
  docker stop -t 10 "$container" >/dev/null
  elapsed_ms=$(((${EPOCHREALTIME/./} - started) / 1000))
  code=$(docker inspect -f '{{.State.ExitCode}}' "$container")
  docker logs "$container" >"$logs/$name.log" 2>&1
  docker rm "$container" >/dev/null
  note "$name: docker stop took $(awk -v ms="$elapsed_ms" 'BEGIN{printf "%.2f", ms/1000}') s, exit code $code"
  check_eq "$name: exit code 143 (SIGTERM handled; 137 is SIGKILL)" 143 "$code"
  if [ "$elapsed_ms" -lt 10000 ]; then
    ok "$name: stopped within the 10 s grace ($((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s)"
  else
    not_ok "$name: stopped within the 10 s grace ($((elapsed_ms / 1000)) s: killed)"
  fi
}

# stop_scenario NAME NUMBER BASELINE STAGE: starts the step detached, waits until it is in STAGE
# (head: the model has been called; base: the model has been called and the base worktree
# exists; github: a held GitHub request has arrived), then `docker stop -t 10`, and checks how
# evalgate ended.
stop_scenario() {
  local name=$1 number=$2 baseline=$3 stage=$4 container before
  begin_scenario
  new_job "pr$number"
  make_repo "$slow_port" 30 1
  write_event "$number" "$repo"
  prepare_step "$number" "BASELINE=$baseline"
  since=$(gh_lines)
  before=$(model_requests "$slow_port")
  container=evalgatetest_$name
  docker_run_line "$container"
  env "${step_env[@]}" docker run -d "${run_line[@]}" >/dev/null
  # Until the step is in the stage, while the container runs; at most two minutes.
  in_stage() {
    case $stage in
      github) [ "$(gh count --since "$since" --pending)" -gt 0 ] ;;
      *) [ "$(model_requests "$slow_port")" -gt "$before" ] \
        && { [ "$stage" = head ] || [ -n "$(ls -A "$ws/.git/worktrees" 2>/dev/null)" ]; } ;;
    esac
  }
  local deadline=$((SECONDS + 120)) reached=0 what
  case $stage in
    head) what="calling the model" ;;
    base) what="calling the model in the base re-run" ;;
    github) what="waiting on GitHub's API" ;;
  esac
  while [ "$SECONDS" -lt "$deadline" ] \
    && [ "$(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" = true ]; do
    if in_stage; then
      reached=1
      break
    fi
    sleep 0.2
  done
  if [ "$reached" = 0 ]; then
    docker logs "$container" >"$logs/$name.log" 2>&1
    not_ok "$name: the container was $what before the stop"
    end_scenario "$name"
    docker rm -f "$container" >/dev/null 2>&1
    return 0
  fi
  ok "$name: the container was $what before the stop"
  stop_and_check "$name" "$container"
  check_eq "$name: output verdict=error" error "$(output verdict)"
  check "$name: the step summary is written" test -s "$summary_file"
  check "$name: the step summary names the interruption" \
    grep -Eqi 'sigterm|interrupt|terminated|stopped' "$summary_file"
  check_eq "$name: the error comment is posted" 1 \
    "$(gh count --since "$since" --method POST --path "^/repos/$repo/issues/$number/comments$" --body 'sigterm|interrupt|terminated|stopped')"
  check "$name: no base worktree left registered" \
    test -z "$(ls -A "$ws/.git/worktrees" 2>/dev/null)"
  end_scenario "$name"
  check_ownership "$name"
}

phase "scenario d1: stop in the head run"
stop_scenario d1-stop-head 9 none head
phase "scenario d2: stop in the base re-run"
stop_scenario d2-stop-base 10 rerun base

# The third stage: waiting on GitHub, here for the baseline artifact list (`baseline: auto`
# asks for it first), from a fake GitHub that holds that request for a minute.
phase "scenario d3: stop waiting on GitHub"
start_server github-slow python3 "$here/fake_github.py" serve "$logs/github-slow.jsonl" \
  --slow '/actions/artifacts$=60'
github_port=$port
github_log=$logs/github-slow.jsonl
stop_scenario d3-stop-github 11 auto github

# The fourth: `evalgate run` alone as the container's PID 1 (a workflow's own `docker run`), with
# no signal handling but its own: PID 1 ignores SIGTERM unless the program handles it.
phase "scenario d4: stop evalgate run as PID 1"
begin_scenario
new_job run-pid1
write_suite "$slow_port" 30 1 $'user:\n{{ question }}' '{{ expected }}'
chown -R "$runner_uid:$runner_uid" "$job"
before=$(model_requests "$slow_port")
container=evalgatetest_d4
docker run -d --name "$container" --label "$label" --network host --user "$runner_uid" \
  -v "$ws":/work --workdir /work "$image" run --no-progress >/dev/null
deadline=$((SECONDS + 120))
# Two requests: the first was answered and journaled.
while [ "$SECONDS" -lt "$deadline" ] && [ "$(model_requests "$slow_port")" -le $((before + 1)) ]; do
  sleep 0.2
done
check "d4: the container was calling the model before the stop" \
  test "$(model_requests "$slow_port")" -gt $((before + 1))
stop_and_check d4-stop-run "$container"
check "d4: the journal is kept" compgen -G "$ws/.evalgate/journal-*.jsonl"
check "d4: the log says how to resume" grep -qi 'run the same command again' "$logs/d4-stop-run.log"
end_scenario d4-stop-run

phase ""
