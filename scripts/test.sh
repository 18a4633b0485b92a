#!/usr/bin/env bash
# The project's one test command: scripts/test.sh (from anywhere in the repo).
#
# Needs Go, Node.js and npm, nothing else. It installs the Azurite pinned in
# tools/azurite/package-lock.json, starts its table service on a free
# loopback port with in-memory storage, exports AKSGUARD_TEST_TABLES (the
# connection string the tablestore tests read), installs Debian's chromium
# when it is missing (for the report page's browser test; its screenshot
# goes to build/artifacts/), then runs in order:
#   gofmt -l, go vet, go test -race, make package, and every benchmark once.
# Azurite is stopped on exit, whatever happens.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

log() { printf 'test.sh: %s\n' "$*"; }
die() {
	printf 'test.sh: FAILED: %s\n' "$*" >&2
	exit 1
}

for tool in go node npm git; do
	command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/aksguard-test.XXXXXX")
azurite_pid=

stop_azurite() {
	local rc=$?
	if [[ -n $azurite_pid ]] && kill -0 "$azurite_pid" 2>/dev/null; then
		kill "$azurite_pid" 2>/dev/null || true
		for _ in {1..50}; do
			kill -0 "$azurite_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$azurite_pid" 2>/dev/null; then
			kill -KILL "$azurite_pid" 2>/dev/null || true
		fi
		wait "$azurite_pid" 2>/dev/null || true
		log "stopped Azurite (pid $azurite_pid)"
	fi
	rm -rf "$work"
	exit "$rc"
}
trap stop_azurite EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Azurite, pinned -------------------------------------------------------
# npm 11 here blocks install scripts; Azurite needs none. Azurite 3.37
# declares node >= 22 but runs on Node 20, so npm's EBADENGINE warnings are
# silenced with --loglevel=error.
azurite_dir=$root/tools/azurite
azurite_bin=$azurite_dir/node_modules/.bin/azurite-table
stamp=$azurite_dir/node_modules/.aksguard-lock.sha256
if [[ -f $azurite_dir/package-lock.json ]]; then
	lock_sum=$(sha256sum "$azurite_dir/package-lock.json" | cut -d' ' -f1)
	if [[ -x $azurite_bin && -f $stamp && $(<"$stamp") == "$lock_sum" ]]; then
		log "Azurite: tools/azurite/node_modules matches package-lock.json"
	else
		log "Azurite: npm ci in tools/azurite"
		(cd "$azurite_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
		echo "$lock_sum" >"$stamp"
	fi
else
	log "Azurite: no package-lock.json yet; npm install writes one (commit it)"
	(cd "$azurite_dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
[[ -x $azurite_bin ]] || die "npm did not install $azurite_bin"

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')

# Started in its own empty directory, its workspace; --disableTelemetry since
# tests must not talk to anything but the local emulator.
(cd "$work" && exec "$azurite_bin" --tableHost 127.0.0.1 --tablePort "$port" \
	--inMemoryPersistence --skipApiVersionCheck --loose --disableTelemetry --silent) \
	>"$work/azurite.log" 2>&1 &
azurite_pid=$!
log "started Azurite $(node -p 'require(process.argv[1]).version' "$azurite_dir/node_modules/azurite/package.json") table service (pid $azurite_pid) on 127.0.0.1:$port"

azurite_failed() {
	printf 'test.sh: Azurite log (%s):\n' "$work/azurite.log" >&2
	sed 's/^/  | /' "$work/azurite.log" >&2
	die "$1"
}
ready=
for _ in {1..150}; do # 30 s
	kill -0 "$azurite_pid" 2>/dev/null || azurite_failed "Azurite exited before accepting connections"
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.2
done
[[ -n $ready ]] || azurite_failed "Azurite did not accept connections on 127.0.0.1:$port within 30 s"
log "Azurite accepts connections after $((SECONDS - started)) s"

# Azurite's well-known development account; the key is public.
export AKSGUARD_TEST_TABLES="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:$port/devstoreaccount1;"

# Headless Chromium for the report page's test, from Debian's packages.
if ! command -v chromium >/dev/null; then
	log "Chromium: apt-get install chromium"
	apt=(apt-get)
	[[ $(id -u) == 0 ]] || apt=(sudo -n apt-get)
	export DEBIAN_FRONTEND=noninteractive
	if ! "${apt[@]}" install -y -q chromium >"$work/apt.log" 2>&1; then
		"${apt[@]}" update -q >>"$work/apt.log" 2>&1 || true
		"${apt[@]}" install -y -q chromium >>"$work/apt.log" 2>&1 || {
			sed 's/^/  | /' "$work/apt.log" >&2
			die "could not install Debian's chromium"
		}
	fi
fi
export AKSGUARD_CHROMIUM=$(command -v chromium)
export AKSGUARD_ARTIFACTS=$root/build/artifacts
log "Chromium: $("$AKSGUARD_CHROMIUM" --version 2>/dev/null || echo "$AKSGUARD_CHROMIUM"); screenshots in build/artifacts/"

# --- Checks ----------------------------------------------------------------
step() {
	log "== $*"
	step_started=$SECONDS
}
done_step() { log "   ok ($((SECONDS - step_started)) s)"; }

step "gofmt -l (tracked and new Go files)"
go_files=()
while IFS= read -r -d '' f; do
	[[ -f $f ]] && go_files+=("$f")
done < <(git ls-files -z --cached --others --exclude-standard -- '*.go')
if ((${#go_files[@]} > 0)); then
	unformatted=$(gofmt -l "${go_files[@]}")
	if [[ -n $unformatted ]]; then
		printf '%s\n' "$unformatted" >&2
		die "gofmt: the files above need gofmt -w"
	fi
fi
done_step

step "go vet ./..."
go vet ./...
done_step

step "go test -race -count=1 ./..."
go test -race -count=1 ./...
done_step

step "make package (dist/aksguard-<version>.zip, the function app for zip deploy)"
make package
done_step

step "go test -run '^\$' -bench . -benchtime 1x ./..."
go test -run '^$' -bench . -benchtime 1x ./...
done_step

log "all checks passed in $((SECONDS - started)) s"
