#!/usr/bin/env bash
# start-postgres.sh starts a throwaway PostgreSQL server for the bot/store tests and
# prints its DSN on stdout; everything else goes to stderr:
#
#	export CACHECK_TEST_POSTGRES_DSN="$(bot/store/testdata/start-postgres.sh)"
#
# with-postgres.sh, which README.md and CI use, runs it in a directory of its own
# and stops the server when the tests end.
#
# It installs Debian's postgresql package when no server binaries are present (as
# root), then runs a cluster of its own as the postgres user (initdb refuses root) on
# a free port of 127.0.0.1, with trust authentication and durability switched off:
# the data is disposable. It is idempotent: run again, it finds the running server
# and prints the same DSN. "start-postgres.sh stop" stops the server and deletes it.
#
# Environment:
#	CACHECK_PG_DIR   where the cluster lives (default ${TMPDIR:-/tmp}/cacheck-postgres)
#	CACHECK_PG_PORT  the port (default: the first free one from 54329)
set -euo pipefail

dir=${CACHECK_PG_DIR:-${TMPDIR:-/tmp}/cacheck-postgres}
data=$dir/data
db=cacheck_test
role=cacheck

log() { printf 'start-postgres: %s\n' "$*" >&2; }

# The newest installed major version; Debian 12 ships 15.
bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ "$(id -u)" -eq 0 ]; then
	as_pg() { runuser -u postgres -- "$@"; }
else
	as_pg() { "$@"; }
fi

dsn() { printf 'postgres://%s@127.0.0.1:%s/%s?sslmode=disable\n' "$role" "$(cat "$dir/port")" "$db"; }

running() { [ -f "$dir/port" ] && [ -d "$data" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

bin=$(bindir)

if [ "${1:-start}" = stop ]; then
	if [ -n "$bin" ] && running; then
		as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >&2
	fi
	rm -rf "$dir"
	exit 0
fi

if [ -z "$bin" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		log "PostgreSQL is not installed; installing it needs root (apt-get install postgresql)"
		exit 1
	fi
	log "installing postgresql from the Debian archive"
	# The package would create and start a default "main" cluster on port 5432;
	# we run our own, so ask postgresql-common not to (createcluster.conf(5)).
	mkdir -p /etc/postgresql-common/createcluster.d
	echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/cacheck.conf
	started=$SECONDS
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends postgresql >&2
	log "apt-get update + install took $((SECONDS - started))s"
	bin=$(bindir)
	if [ -z "$bin" ]; then
		log "postgresql installed, but no /usr/lib/postgresql/*/bin"
		exit 1
	fi
fi

if running; then
	dsn
	exit 0
fi

# A cluster that exists but is not running (a reboot, a killed job) is disposable:
# start over rather than trust a stale postmaster.pid.
if [ -d "$dir" ]; then
	rm -rf "$dir"
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${CACHECK_PG_PORT:-}
if [ -z "$port" ]; then
	for p in $(seq 54329 54428); do
		if port_free "$p"; then
			port=$p
			break
		fi
	done
fi
if [ -z "$port" ]; then
	log "no free port in 54329-54428"
	exit 1
fi

started=$SECONDS
mkdir -p "$dir"
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$dir"
fi
as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale --no-sync --no-instructions >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; exit 1; }
cat >>"$data/postgresql.conf" <<CONF
# start-postgres.sh: a disposable server for tests.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
as_pg "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >&2 ||
	{ cat "$dir/server.log" >&2; exit 1; }
echo "$port" >"$dir/port"
as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 \
	-c "CREATE ROLE $role LOGIN" -c "CREATE DATABASE $db OWNER $role" >&2
log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir, started in $((SECONDS - started))s"
dsn
