#!/usr/bin/env bash
# Renders evalgate's pull request comment to PNGs, the way GitHub shows it, from real runs:
#   docs/images/comment-pass.png        a pull request that passes (a prompt reworded, one case fixed)
#   docs/images/comment-regression.png  a pull request that breaks a prompt (cases regress)
# plus a full-height picture of each (comment-*-full.png). Re-run it whenever the comment changes.
#
# The scenario is the support-bot suite in support-bot/, answered by fake_openai.py (a local
# OpenAI-compatible stand-in, on 127.0.0.1): the base branch's run, then each head (heads/NAME/,
# copied over the suite) run with `evalgate run --baseline` against it. The markdown is rendered
# with cmark-gfm (GitHub's renderer and extensions) into a page styled by github-markdown-css, and
# photographed by headless Chromium. See README.md beside this file.
#
# Installs what it needs when missing: chromium, cmark-gfm, fonts (Debian packages), and
# github-markdown-css (npm, pinned) into the same cache folder as .ci/run's tools.
#
# Environment: EVALGATE_BIN=PATH uses that binary instead of building one (`cargo build`);
# SHOT_HEIGHT=PX the height of the first-screen pictures (default 1200).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
images="$root/docs/images"
tools="${XDG_CACHE_HOME:-$HOME/.cache}/evalgate-ci"
css_version="5.9.0"
width=1000
height="${SHOT_HEIGHT:-1200}"

# --- what it needs
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v cmark-gfm >/dev/null || missing+=(cmark-gfm)
command -v python3 >/dev/null || missing+=(python3)
command -v git >/dev/null || missing+=(git)
command -v npm >/dev/null || missing+=(nodejs npm)
# A plain font for the text and a colour one for the verdict's emoji (✅ ❌ ⚠️): without them
# Chromium draws boxes.
command -v fc-list >/dev/null || missing+=(fontconfig)
if ! command -v fc-list >/dev/null || ! fc-list | grep -qi "DejaVu Sans"; then
  missing+=(fonts-dejavu-core)
fi
if ! command -v fc-list >/dev/null || ! fc-list | grep -qi "Noto Color Emoji"; then
  missing+=(fonts-noto-color-emoji)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "--- installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
css="$tools/node_modules/github-markdown-css/github-markdown-light.css"
installed_css="$(sed -n 's/^ *"version": *"\(.*\)".*/\1/p' \
  "$tools/node_modules/github-markdown-css/package.json" 2>/dev/null || true)"
if [ ! -f "$css" ] || [ "$installed_css" != "$css_version" ]; then
  echo "--- installing github-markdown-css@$css_version into $tools"
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "github-markdown-css@$css_version" >/dev/null
fi

# --- evalgate
if [ -n "${EVALGATE_BIN:-}" ]; then
  bin="$EVALGATE_BIN"
else
  echo "--- building evalgate"
  (cd "$root" && cargo build --locked --quiet)
  target="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  bin="$target/debug/evalgate"
fi
"$bin" --version

# --- the model
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  if [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT
python3 "$here/fake_openai.py" "$work/port" 8765 &
server=$!
for _ in $(seq 100); do
  [ -s "$work/port" ] && break
  sleep 0.1
done
port="$(cat "$work/port")"
echo "--- fake model on 127.0.0.1:$port"

# --- the runs: the base branch, then each head compared with it
# A git repository, so that the comment names commits and branches as it does in CI. Fixed
# authors and dates make the commits, and so the pictures, the same on every run.
repo="$work/repo"
export GIT_AUTHOR_NAME="Northwind Dev" GIT_AUTHOR_EMAIL="dev@northwind.example"
export GIT_COMMITTER_NAME="Northwind Dev" GIT_COMMITTER_EMAIL="dev@northwind.example"
export GIT_AUTHOR_DATE="2026-01-05T10:00:00Z" GIT_COMMITTER_DATE="2026-01-05T10:00:00Z"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
git init -q -b main "$repo"
cp -r "$here/support-bot/." "$repo/"
# The suite names port 8765; when that was taken, it talks to the one we got instead (the edit is
# part of every commit, so no run is "dirty"; the pictures then show other commit hashes).
sed -i "s#127\.0\.0\.1:8765#127.0.0.1:$port#" "$repo/evalgate.toml"
printf '.evalgate/\n' >"$repo/.gitignore"
git -C "$repo" add -A
git -C "$repo" commit -q -m "support bot suite"
# run NAME EXPECTED_EXIT ARGS...: `evalgate run` in the repository. The exit code is checked so
# that a picture named "pass" never shows a failure (or the other way round).
run() {
  local name="$1" want="$2" code=0
  shift 2
  (cd "$repo" && "$bin" run -c evalgate.toml --cache off --no-progress "$@" \
    >"$work/$name.out" 2>&1) || code=$?
  if [ "$code" != "$want" ]; then
    cat "$work/$name.out" >&2
    echo "render.sh: the $name run exited $code, expected $want" >&2
    exit 1
  fi
}
echo "--- runs"
run base 0 --results "$work/base.json"
run_url="https://github.com/northwind/support-bot/actions/runs/1234567890"
# pull_request NAME BRANCH MESSAGE EXPECTED_EXIT: heads/NAME/ laid over main on BRANCH, run against main.
pull_request() {
  git -C "$repo" checkout -q -b "$2" main
  cp -r "$here/heads/$1/." "$repo/"
  git -C "$repo" commit -q -a -m "$3"
  run "$1" "$4" --baseline "$work/base.json" --results "$work/$1.json" \
    --markdown "$work/comment-$1.md" --run-url "$run_url"
  git -C "$repo" checkout -q main
}
pull_request pass reword-answer-prompt "answer: reword the instructions, add the gift card policy" 0
pull_request regression shorter-answer-prompt "answer: link the returns and shipping policies instead of listing them" 1

# --- the pictures
# render NAME: the comment as GitHub shows it, in a ~900px column like a pull request's.
render() {
  local md="$work/comment-$1.md" page="$work/comment-$1.html"
  {
    cat <<EOF
<!doctype html>
<html>
<head>
<meta charset="utf-8">
<link rel="stylesheet" href="file://$css">
<link rel="stylesheet" href="file://$here/page.css">
</head>
<body>
<div class="comment">
<div class="comment-header"><strong>github-actions</strong> <span class="bot">bot</span> commented</div>
<article class="markdown-body">
EOF
    cmark-gfm -e table -e strikethrough -e autolink -e tagfilter --unsafe "$md"
    cat <<'EOF'
</article>
</div>
<script>document.documentElement.dataset.height = document.documentElement.scrollHeight;</script>
</body>
</html>
EOF
  } >"$page"
  # The page's height, for the full-height picture: Chromium lays it out and prints the DOM.
  local full
  "${chrome[@]}" --window-size="$width,$height" --dump-dom "file://$page" \
    >"$work/dom-$1.html" 2>>"$work/chromium.log" || chromium_failed "measuring comment-$1"
  full="$(sed -n 's/.*data-height="\([0-9]*\)".*/\1/p' "$work/dom-$1.html" | head -n 1)"
  full="${full:-$height}"
  shoot "comment-$1.png" "$height" "$page"
  shoot "comment-$1-full.png" "$full" "$page"
  echo "docs/images/comment-$1.png ($width x $height), comment-$1-full.png ($width x $full)"
}
# chromium_failed WHAT: Chromium's own messages (it is chatty, so they are kept in a log until
# something goes wrong), then stop.
chromium_failed() {
  cat "$work/chromium.log" >&2
  echo "render.sh: chromium failed $1" >&2
  exit 1
}
# shoot FILE HEIGHT PAGE: a screenshot of PAGE, $width wide and HEIGHT high, into docs/images.
# The old picture goes first, so a failed run never leaves it looking new.
shoot() {
  rm -f "$images/$1"
  "${chrome[@]}" --window-size="$width,$2" --screenshot="$images/$1" "file://$3" \
    >>"$work/chromium.log" 2>&1 || chromium_failed "taking $1"
  [ -s "$images/$1" ] || chromium_failed "taking $1 (no picture written)"
}
# Headless Chromium without network, first-run or sync, in a throwaway profile.
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$work/chromium-profile" --hide-scrollbars)
mkdir -p "$images"
echo "--- pictures"
for head in pass regression; do
  render "$head"
done
