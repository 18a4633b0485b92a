// Command aksguard flags AKS clusters whose control plane still uses a
// service principal and remediates them once approved. `aksguard serve` is
// the Azure Functions custom handler; check, triage and demo are operator
// tools that need no Azure account.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
