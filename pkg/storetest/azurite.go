package storetest

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
	"github.com/aksguard/aksguard/pkg/tablestore"
)

// AzuriteEnv names the setting through which scripts/test.sh hands the
// tests the connection string of the Azurite it started.
const AzuriteEnv = "AKSGUARD_TEST_TABLES"

// Azurite returns the connection string of the Azurite that scripts/test.sh
// starts, and skips t, saying why, when there is none.
func Azurite(t testing.TB) string {
	t.Helper()
	conn := os.Getenv(AzuriteEnv)
	if conn == "" {
		t.Skip(AzuriteEnv + " is not set; scripts/test.sh starts Azurite and sets it")
	}
	return conn
}

// Tables returns a Store on fresh tables with a random prefix, deleted when
// t ends, and the service client it uses.
func Tables(t testing.TB, conn string) (*tablestore.Store, *aztables.ServiceClient) {
	t.Helper()
	svc, err := tablestore.ServiceClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatalf("ServiceClientFromConnectionString() error = %v", err)
	}
	s, err := tablestore.New(svc, "t"+rand.Text())
	if err != nil {
		t.Fatalf("tablestore.New() error = %v", err)
	}
	if err := s.EnsureTables(t.Context()); err != nil {
		t.Fatalf("EnsureTables() error = %v", err)
	}
	t.Cleanup(func() { DeleteTables(t, svc, s.Tables()) })
	return s, svc
}

// DeleteTables deletes the named tables, reporting failures on t. It runs
// in cleanups, after t.Context() is cancelled, so it has its own deadline.
func DeleteTables(t testing.TB, svc *aztables.ServiceClient, names []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range names {
		if _, err := svc.DeleteTable(ctx, name, nil); err != nil {
			t.Errorf("DeleteTable(%s) error = %v", name, err)
		}
	}
}

// Store returns an empty store for a test: Table Storage tables on the
// Azurite scripts/test.sh starts, when it runs one, else the in-memory
// store, which passes the same contract.
func Store(t testing.TB) guard.Store {
	t.Helper()
	if conn := os.Getenv(AzuriteEnv); conn != "" {
		s, _ := Tables(t, conn)
		return s
	}
	return memory.NewStore()
}
