#!/bin/sh
# An example tenure `command` provider: group membership in a directory, simulated by a JSON
# file. It speaks the protocol of docs/command-provider.md and needs only POSIX sh, sed, grep, sort and paste.
#
#   tenure.yaml:  providers:
#                   ldap: { kind: command, program: examples/plugins/ldap-groups.sh,
#                           env: [LDAP_GROUPS_FILE], timeout: 10s }
#
#   ldap-groups.sh list    stdin {"resources":["group/a",...]}   stdout {"grants":[...]}
#   ldap-groups.sh grant   stdin {"resource":"group/a","role":"member","subject":"alice"}
#   ldap-groups.sh revoke  stdin the same
#
# The state file keeps one grant per line, exactly as tenure sent it, so that plain line tools
# can match grants without parsing JSON; the file as a whole is still valid JSON:
#   {"grants":[
#   {"resource":"group/a","role":"member","subject":"alice"}
#   ]}
# A real plugin would call the directory here instead. Exit 0 means done (including "already
# granted" and "already gone"); anything else is a failure, and stderr tells the operator why.

set -eu

state=${LDAP_GROUPS_FILE:-}
if [ -z "$state" ]; then
    echo "ldap-groups: LDAP_GROUPS_FILE is not set; add it to the provider's env list" >&2
    exit 2
fi

request=$(cat)

# The grants in the state file, one JSON object per line.
grants() {
    if [ -f "$state" ]; then
        sed -n 's/^\({"resource":.*}\),\{0,1\}$/\1/p' "$state"
    fi
}

# Replaces the state file with the grants on stdin, sorted and without repeats. The rename
# keeps a crash from leaving half a file.
save() {
    tmp="$state.tmp.$$"
    {
        echo '{"grants":['
        sort -u | sed '$!s/$/,/'
        echo ']}'
    } >"$tmp"
    mv -f "$tmp" "$state"
}

# A grant or revoke request must be one line, in the shape tenure sends.
check_request() {
    case $request in
    *'
'*)
        echo "ldap-groups: expected one JSON object on one line" >&2
        exit 2
        ;;
    '{"resource":"'*'}') ;;
    *)
        echo "ldap-groups: expected {\"resource\",\"role\",\"subject\"} on stdin" >&2
        exit 2
        ;;
    esac
    resource=$(printf '%s\n' "$request" | sed 's/^{"resource":"\([^"]*\)".*/\1/')
    case $resource in
    group/*) ;;
    *)
        echo "ldap-groups: $resource is not a group; this directory only has group/<name>" >&2
        exit 3
        ;;
    esac
}

case ${1:-} in
list)
    # Resource ids are letters, digits, '-', '_', '.' and one '/', so splitting on JSON
    # punctuation is enough to pick them out.
    wanted=$(printf '%s' "$request" | tr ',[]{}:' '\n\n\n\n\n\n' |
        sed -n 's/^[[:space:]]*"\([a-z0-9_-]*\/[A-Za-z0-9._-]*\)"[[:space:]]*$/\1/p')
    matches=$(grants | while IFS= read -r line; do
        resource=$(printf '%s\n' "$line" | sed 's/^{"resource":"\([^"]*\)".*/\1/')
        if printf '%s\n' "$wanted" | grep -qxF -e "$resource"; then
            printf '%s\n' "$line"
        fi
    done | paste -sd, -)
    printf '{"grants":[%s]}\n' "$matches"
    ;;
grant)
    check_request
    { grants; printf '%s\n' "$request"; } | save
    ;;
revoke)
    check_request
    grants | { grep -vxF -e "$request" || true; } | save
    ;;
*)
    echo "ldap-groups: unknown action '${1:-}'; expected list, grant or revoke" >&2
    exit 2
    ;;
esac
