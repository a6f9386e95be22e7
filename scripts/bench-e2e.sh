#!/usr/bin/env bash
# End-to-end benchmark: `tenure plan --format json` on synthetic access repositories of
# growing size, timed against git's own first-parent walk of the same repository in the same
# run, with tenure's peak memory. See docs/performance.md for the method and the results.
#
# Usage: scripts/bench-e2e.sh [SIZES...]    (default: 1000 10000 100000 request files)
# Env:   BENCH_DIR (default: a temporary directory), RUNS (default 3; the best run counts),
#        SEED (default 1), POLICY_CHANGES (1, the default: the history has admin-approved
#        catalog changes; 0: none, to separate their cost, see docs/performance.md).
#
# Each size N gets 2*N first-parent commits, capped at 100,000 (so N = 100,000 has 100,000
# commits, and its requests arrive in batches of about two per change). Not for CI.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
runs=${RUNS:-3}
seed=${SEED:-1}
policy_changes=${POLICY_CHANGES:-1}
max_commits=100000
now=2027-01-01T00:00:00Z

if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time for peak memory" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq time >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq time >/dev/null; fi
fi

cargo build --release --locked --bin tenure --example generate >&2
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
tenure="$target/release/tenure"
generate="$target/release/examples/generate"

work=${BENCH_DIR:-$(mktemp -d -t tenure-bench-XXXXXX)}
mkdir -p "$work"
echo "repositories in $work; best of $runs runs; $(nproc) cores; $(git --version)"

# best_time CMD...: the least wall time (seconds) over $runs runs, output discarded.
best_time() {
  local best="" start t
  for _ in $(seq "$runs"); do
    start=$EPOCHREALTIME
    "$@" >/dev/null 2>&1 || true
    t=$(awk "BEGIN{printf \"%.4f\", $EPOCHREALTIME - $start}")
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
  done
  echo "$best"
}

# peak_kb CMD...: the maximum resident set size, in KiB, of one run.
peak_kb() {
  local report
  report=$(mktemp)
  /usr/bin/time -v -o "$report" "$@" >/dev/null 2>&1 || true
  awk -F': ' '/Maximum resident set size/ {print $2}' "$report"
  rm -f "$report"
}

printf '\n%8s %8s %10s %9s %9s %7s %10s %10s\n' files commits generate git-log plan ratio plan-MiB git-MiB
for n in "${sizes[@]}"; do
  commits=$((2 * n))
  [ "$commits" -le "$max_commits" ] || commits=$max_commits
  repo="$work/repo-$n-p$policy_changes"
  if [ ! -d "$repo" ]; then
    start=$EPOCHREALTIME
    "$generate" --files "$n" --commits "$commits" --seed "$seed" \
      --policy-changes "$policy_changes" --out "$repo" >"$repo.json"
    gen=$(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME - $start}")
  else
    gen=cached
  fi
  git_cmd=(git -C "$repo" log --first-parent --raw --no-abbrev --format=%H main)
  plan_cmd=("$tenure" --repo "$repo" --now "$now" --format json plan)
  # tenure exits 1 here by design (the history holds rejected requests); time it all the same.
  set +e
  "${plan_cmd[@]}" >"$repo.plan.json" 2>"$repo.plan.err"
  code=$?
  set -e
  if [ "$code" -gt 1 ]; then
    echo "tenure plan failed on $repo (exit $code):" >&2
    cat "$repo.plan.err" >&2
    exit 1
  fi
  "${git_cmd[@]}" >/dev/null  # warm the page cache for both
  t_git=$(best_time "${git_cmd[@]}")
  t_plan=$(best_time "${plan_cmd[@]}")
  m_plan=$(peak_kb "${plan_cmd[@]}")
  m_git=$(peak_kb "${git_cmd[@]}")
  printf '%8d %8d %10s %9.3f %9.3f %7.2f %10.1f %10.1f\n' "$n" "$commits" "$gen" "$t_git" "$t_plan" \
    "$(awk "BEGIN{print $t_plan / $t_git}")" "$(awk "BEGIN{print $m_plan / 1024}")" \
    "$(awk "BEGIN{print $m_git / 1024}")"
done
