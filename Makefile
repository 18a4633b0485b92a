# The two commands of the README's quick start.
.PHONY: demo test bench build

# The flagging and remediation pipeline on a simulated fleet; no Azure account.
demo:
	go run ./cmd/aksguard demo

# Everything CI runs: installs and starts a pinned Azurite, then gofmt, go vet,
# go test -race and every benchmark once; stops Azurite.
test:
	scripts/test.sh

# The figures quoted in the README.
bench:
	go test -run '^$$' -bench . -benchmem -count 5 ./...

build:
	CGO_ENABLED=0 go build -trimpath -o bin/aksguard ./cmd/aksguard
