#!/usr/bin/env bash
# tenure quickstart: the whole loop, offline, in one command.
#
#   ./examples/quickstart.sh            # from the root of the tenure repository
#   TENURE=/path/to/tenure ./examples/quickstart.sh   # use an existing binary
#
# It builds tenure, turns the files in examples/access-repo/ into a real git
# history in a temporary directory (requests merged with Proposed-by: and
# Approved-by: trailers, one self-approved request, one direct push, one
# break-glass request), and then runs check, plan, apply, a plan and apply the
# next morning when access has expired, and report. No token, no network: the
# forge is `git` (trailers) and the target system is a JSON file.
#
# Needs only bash, git, coreutils and, unless TENURE is set, cargo.
# Exits 0 when tenure behaved as expected, non-zero otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
sample=$here/access-repo

# The scenario's clock. Every commit has a fixed date, and every tenure command
# gets --now, so the output is the same on every run.
DAY1_EVENING=2026-03-02T16:00:00Z   # after the last merge of the day
DAY2_MORNING=2026-03-03T09:00:00Z   # the 8h and the break-glass access are over

bold='' plain=''
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; fi
heading() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
note() { printf '    %s\n' "$*"; }

failures=0
fail() {
    printf '!! %s\n' "$*"
    failures=$((failures + 1))
}

# ---------------------------------------------------------------------------
heading "1. Build tenure"
if [[ -n ${TENURE:-} ]]; then
    note "using TENURE=$TENURE"
else
    note "cargo build (the first build takes a few minutes)"
    (cd "$root" && cargo build --quiet)
    target_dir=${CARGO_TARGET_DIR:-target}
    [[ $target_dir == /* ]] || target_dir=$root/$target_dir
    TENURE=$target_dir/debug/tenure
    note "built $TENURE"
fi
[[ -x $TENURE ]] || { echo "no tenure binary at $TENURE" >&2; exit 2; }

# ---------------------------------------------------------------------------
heading "2. Build acme's access repository, with a real git history"

work=$(mktemp -d "${TMPDIR:-/tmp}/tenure-quickstart.XXXXXX")
repo=$work/access
audit=$work/audit.jsonl

# Keep the user's git configuration (signing, hooks, templates) out of the way.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_MERGE_AUTOEDIT=no

git init --quiet -b main "$repo"
mkdir -p "$repo/catalog" "$repo/requests" "$repo/state"

# The target system's state before tenure's first run. It is not part of the
# access repository; it only lives in the working tree.
cp "$sample/state/local.json" "$repo/state/local.json"
echo "state/" >>"$repo/.git/info/exclude"

# git_as LOGIN TIME GIT-ARGS...: run git in the access repository as LOGIN, at TIME.
git_as() {
    local login=$1 when=$2
    shift 2
    GIT_AUTHOR_DATE=$when GIT_COMMITTER_DATE=$when \
        git -C "$repo" -c user.name="$login" -c user.email="$login@acme.example" "$@"
}

# merge_request FILE OPENED MERGED PROPOSER [APPROVER...]
# The requester commits FILE on a feature branch at OPENED; it is merged into
# main at MERGED with `git merge --no-ff`. The merge commit is the change that
# tenure judges, and its last paragraph carries the review as trailers.
merge_request() {
    local file=$1 opened=$2 merged=$3 proposer=$4
    shift 4
    local branch=request/${file%.yaml}
    local trailers="Proposed-by: $proposer" approver
    for approver in "$@"; do trailers+=$'\n'"Approved-by: $approver"; done

    git -C "$repo" checkout --quiet -b "$branch" main
    cp "$sample/requests/$file" "$repo/requests/$file"
    git -C "$repo" add "requests/$file"
    git_as "$proposer" "$opened" commit --quiet -m "Request access: requests/$file"
    git -C "$repo" checkout --quiet main
    # Whoever pressed "merge": the first approver, or the proposer.
    git_as "${1:-$proposer}" "$merged" merge --quiet --no-ff "$branch" \
        -m "Merge branch '$branch'" -m "$trailers"
    git -C "$repo" branch --quiet -D "$branch"
    note "merged   requests/$file at $merged (${trailers//$'\n'/, })"
}

# direct_push FILE TIME LOGIN: commit FILE straight onto main, with no review.
direct_push() {
    local file=$1 when=$2 login=$3
    cp "$sample/requests/$file" "$repo/requests/$file"
    git -C "$repo" add "requests/$file"
    git_as "$login" "$when" commit --quiet -m "Add requests/$file"
    note "pushed   requests/$file at $when, straight to main, no trailers"
}

# 2a. The policy: tenure.yaml and the catalog, committed by the admin dana.
#     The first commit that creates tenure.yaml is trusted on first use.
cp "$sample/tenure.yaml" "$repo/tenure.yaml"
cp "$sample"/catalog/*.yaml "$repo/catalog/"
git -C "$repo" add tenure.yaml catalog
git_as dana 2026-03-02T09:00:00Z commit --quiet -m "Set up tenure: config and catalog"
note "policy   tenure.yaml and catalog/ by dana at 2026-03-02T09:00:00Z"

# 2b. Reviewed requests, merged through feature branches.
#     alice joins the payments on-call; carol (group:payments-leads) approves.
merge_request alice-payments-oncall.yaml \
    2026-03-02T09:20:00Z 2026-03-02T10:00:00Z alice carol
#     dave reads the production database until the end of 2026-03-06; frank (group:dba) approves.
merge_request dave-prod-db-readers.yaml \
    2026-03-02T10:15:00Z 2026-03-02T11:00:00Z dave frank
#     heidi asks deploy access for the service account deploy-bot: erin approves
#     as an owner of deploy-prod, ivan as an owner of the deploy-bot identity.
merge_request deploy-bot-deploy-prod.yaml \
    2026-03-02T11:30:00Z 2026-03-02T12:00:00Z heidi erin ivan
#     ivan becomes a cluster admin for 8 hours: admins needs two platform owners.
merge_request ivan-cluster-admin.yaml \
    2026-03-02T13:10:00Z 2026-03-02T14:00:00Z ivan erin heidi

# 2c. A request that is merged but not validly approved: grace owns
#     prod-db-readers, but she approved her own request.
merge_request grace-prod-db-readers.yaml \
    2026-03-02T14:20:00Z 2026-03-02T14:30:00Z grace grace

# 2d. A direct push to main: no review at all.
direct_push trent-payments-oncall.yaml 2026-03-02T15:00:00Z trent

# 2e. Break-glass during an incident: proposed by ivan, merged without approvals.
merge_request ivan-prod-db-breakglass.yaml \
    2026-03-02T15:35:00Z 2026-03-02T15:40:00Z ivan

echo
note "The first-parent history of main, as tenure reads it:"
git -C "$repo" log --first-parent --reverse --date=iso-strict \
    --format='    %h %cd %an: %s%+(trailers:only,separator=%x2C )' |
    sed -e 's/^\([^ ]\)/             \1/'

# run_tenure EXPECTED_EXIT WHY ARGS...: run tenure on the access repository and
# compare its exit code with the one the scenario expects.
run_tenure() {
    local expect=$1 why=$2
    shift 2
    printf '\n$ tenure --repo %s %s\n' "$repo" "$*"
    local rc=0
    "$TENURE" --repo "$repo" "$@" || rc=$?
    if [[ $rc -eq $expect ]]; then
        [[ $rc -eq 0 ]] || printf '(exit %d: %s, as expected)\n' "$rc" "$why"
    else
        fail "tenure $* exited $rc; expected $expect ($why)"
    fi
}

# state_has yes|no RESOURCE ROLE SUBJECT: check the target system's state file.
state_has() {
    local want=$1 tuple="\"resource\":\"$2\",\"role\":\"$3\",\"subject\":\"$4\"" have=no
    if tr -d ' \t\r\n' <"$repo/state/local.json" | grep -qF "$tuple"; then have=yes; fi
    [[ $have == "$want" ]] || fail "state/local.json: expected $4 $([[ $want == yes ]] || echo "not ")to hold $3 on $2"
}

show_state() {
    echo
    note "state/local.json (the target system) now holds:"
    sed 's/^/    /' "$repo/state/local.json"
}

REJECTED="tenure rejected 2 requests (grace approved her own, trent pushed directly)"

# ---------------------------------------------------------------------------
heading "3. tenure check: validate every file, the policy and the approvals (writes nothing)"
note "Expect: the policy trusted on first use; 5 approved requests (one break-glass);"
note "grace-prod-db-readers.yaml rejected as insufficient-approvals, and"
note "trent-payments-oncall.yaml as not-reviewed."
run_tenure 1 "$REJECTED" --now "$DAY1_EVENING" check

# ---------------------------------------------------------------------------
heading "4. tenure plan: what apply would change on the evening of 2026-03-02"
note "Expect: grant alice, dave, deploy-bot, ivan (admins) and ivan (break-glass);"
note "revoke zoe from the exclusive group admins as drift (ops-bot is kept);"
note "bob's unmanaged membership of payments-oncall is listed as drift and left alone."
run_tenure 1 "$REJECTED" --now "$DAY1_EVENING" plan

# ---------------------------------------------------------------------------
heading "5. tenure apply: make the changes, and record the evidence"
run_tenure 1 "$REJECTED" --now "$DAY1_EVENING" apply --audit "$audit"
show_state
state_has yes group/payments-oncall member alice
state_has yes group/payments-oncall member bob
state_has no group/payments-oncall member trent
state_has yes group/prod-db-readers reader dave
state_has yes group/prod-db-readers reader ivan
state_has no group/prod-db-readers reader grace
state_has yes group/deploy-prod deployer deploy-bot
state_has yes group/admins member ivan
state_has yes group/admins member ops-bot
state_has no group/admins member zoe
if [[ -s $audit ]]; then
    note "$audit: $(wc -l <"$audit") lines, one JSON object per applied change"
else
    fail "apply wrote no audit log at $audit"
fi

# ---------------------------------------------------------------------------
heading "6. The next morning: tenure plan --now $DAY2_MORNING"
note "Expect: ivan's 8h admin access (ended 22:00) and his 3h break-glass read"
note "access (ended 18:40) are revoked as expired. Nothing else changes."
run_tenure 1 "$REJECTED" --now "$DAY2_MORNING" plan

# ---------------------------------------------------------------------------
heading "7. tenure apply at $DAY2_MORNING: the expired access goes"
run_tenure 1 "$REJECTED" --now "$DAY2_MORNING" apply --audit "$audit"
show_state
state_has no group/admins member ivan
state_has no group/prod-db-readers reader ivan
state_has yes group/admins member ops-bot
state_has yes group/prod-db-readers reader dave
state_has yes group/payments-oncall member alice
state_has yes group/deploy-prod deployer deploy-bot

# ---------------------------------------------------------------------------
heading "8. tenure expiring --within 7d: grants that end within a week"
note "Expect: dave's database access, which ends at the end of 2026-03-06."
run_tenure 0 "" --now "$DAY2_MORNING" expiring --within 7d

# ---------------------------------------------------------------------------
heading "9. tenure report: every live grant, with its evidence"
note "Expect: alice, dave and deploy-bot, each with who asked, why, who approved,"
note "which commit, and when it ends."
run_tenure 0 "" --now "$DAY2_MORNING" report

# ---------------------------------------------------------------------------
heading "Explore"
cat <<EOF
    The access repository:  $repo
    The audit log:          $audit

    Why is (or isn't) a request granted?
      $TENURE --repo $repo --now $DAY1_EVENING explain requests/grace-prod-db-readers.yaml
      $TENURE --repo $repo --now $DAY1_EVENING explain requests/ivan-cluster-admin.yaml
    The same plan, as JSON:
      $TENURE --repo $repo --now $DAY1_EVENING --format json plan
    The report as CSV, for an auditor:
      $TENURE --repo $repo --now $DAY2_MORNING --format csv report
    The history:
      git -C $repo log --first-parent

    Remove it with: rm -rf $work
EOF

if [[ $failures -ne 0 ]]; then
    printf '\n!! %d step(s) did not behave as expected; see the messages above.\n' "$failures" >&2
    exit 1
fi
printf '\nEverything behaved as expected.\n'
