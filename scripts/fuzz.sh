#!/bin/sh
# Runs every go fuzz target of the module for FUZZTIME each (default 30s),
# one after the other; findings land in <pkg>/testdata/fuzz/<Target>/ and
# stay there as regression seeds that plain `go test` runs. Usage:
#   FUZZTIME=2m sh scripts/fuzz.sh [package pattern...]   (default ./...)
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
[ $# -gt 0 ] || set -- ./...
fail=0
for pkg in $($GO list "$@"); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u)
	for t in $targets; do
		echo "== $pkg $t ($FUZZTIME)"
		before=$(ls "$dir/testdata/fuzz/$t" 2>/dev/null | wc -l)
		log=$(mktemp)
		if ! $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
			after=$(ls "$dir/testdata/fuzz/$t" 2>/dev/null | wc -l)
			grep -v '^fuzz: elapsed' "$log" | tail -20
			# Go's fuzzer can end a clean run with "context deadline
			# exceeded" when -fuzztime runs out mid-minimization on a
			# loaded machine; with no new failing input that is no finding.
			if [ "$after" -eq "$before" ] && grep -q 'context deadline exceeded' "$log"; then
				echo "warning: $pkg $t: fuzz run timed out without a finding"
			else
				echo "FAIL: $pkg $t: the failing input is in $dir/testdata/fuzz/$t/"
				fail=1
			fi
		else
			tail -2 "$log"
		fi
		rm -f "$log"
	done
done
exit $fail
