#!/usr/bin/env bash
# with-postgres.sh runs a command beside a throwaway PostgreSQL server for the
# store's tests, then stops and deletes that server, however the command ends
# (success, failure, Ctrl-C). README.md's test command:
#
#	bash bot/store/testdata/with-postgres.sh go test ./...
#
# The server is start-postgres.sh's, in a directory of its own, so that it is
# never one that another run (or another person) started; CACHECK_TEST_POSTGRES_DSN
# points the tests at it. The exit status is the command's.
set -euo pipefail

if [ $# -eq 0 ]; then
	echo "usage: with-postgres.sh COMMAND [ARG...]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)

CACHECK_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cacheck-postgres.XXXXXX")
export CACHECK_PG_DIR
stop() { bash "$here/start-postgres.sh" stop || true; }
trap stop EXIT
# On a signal, stop the server, then end as the signal would have.
trap 'trap - EXIT INT; stop; kill -INT $$' INT
trap 'trap - EXIT TERM; stop; kill -TERM $$' TERM

CACHECK_TEST_POSTGRES_DSN=$(bash "$here/start-postgres.sh")
export CACHECK_TEST_POSTGRES_DSN
# Not exec: the trap stops the server once the command has ended, and the
# script exits with the command's status (set -e), which the trap keeps.
"$@"
