# The two commands of the README's quick start.
.PHONY: demo test bench build package

# The flagging and remediation pipeline on a simulated fleet; no Azure account.
# make demo ARGS=--serve=127.0.0.1:8080 then serves the report page.
demo:
	go run ./cmd/aksguard demo $(ARGS)

# Everything CI runs: installs and starts a pinned Azurite, then gofmt, go vet,
# go test -race and every benchmark once; stops Azurite.
test:
	scripts/test.sh

# The figures quoted in the README.
bench:
	go test -run '^$$' -bench . -benchmem -count 5 ./...

build:
	CGO_ENABLED=0 go build -trimpath -o bin/aksguard ./cmd/aksguard

# The function app as the Functions host expects it: host.json, the Linux
# binary and one folder per function at the root, in dist/app/ (azd deploy
# zips and deploys it; `func start` runs it) and zipped as dist/aksguard-<version>.zip
# for az functionapp deployment source config-zip.
package:
	go run ./tools/package -out dist
