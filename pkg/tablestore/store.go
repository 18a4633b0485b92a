// Package tablestore is the guard.Store on Azure Table Storage.
//
// It keeps four tables, named by a configurable prefix and a suffix:
//
//	<prefix>findings  PartitionKey = subscription key, RowKey = cluster key
//	<prefix>jobs      PartitionKey = cluster key,      RowKey = job id
//	<prefix>audit     PartitionKey = cluster key,      RowKey = audit entry key
//	<prefix>kpis      PartitionKey = "kpis",           RowKey = UTC date (YYYY-MM-DD)
//
// Keys are guard.ClusterID.Key and guard.EncodeKey, so IDs that differ only
// in case name the same record. Every entity has explicit columns a person
// can read in Storage Explorer; lists (Reasons, Outbox) are JSON strings and
// times are RFC 3339 strings in UTC with nine fractional digits, which keep
// every nanosecond (Table Storage's own DateTime keeps 100 ns, Azurite's
// milliseconds) and sort as text.
package tablestore

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// Store is a guard.Store on Table Storage. It is safe for concurrent use.
// Saves are optimistic as guard.Store says: an insert uses AddEntity, a
// replace uses UpdateEntity with If-Match set to the record's ETag.
type Store struct {
	svc      *aztables.ServiceClient
	tables   []string
	findings *aztables.Client
	jobs     *aztables.Client
	audit    *aztables.Client
	kpis     *aztables.Client
}

var _ guard.Store = (*Store)(nil)

// Table name suffixes; the prefix goes in front of each.
const (
	findingsSuffix = "findings"
	jobsSuffix     = "jobs"
	auditSuffix    = "audit"
	kpisSuffix     = "kpis"
)

// validPrefix leaves room for the longest suffix in Table Storage's 63
// characters, and keeps every name alphanumeric and starting with a letter.
var validPrefix = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]{0,54})?$`)

// CheckPrefix reports whether prefix makes valid table names.
func CheckPrefix(prefix string) error {
	if !validPrefix.MatchString(prefix) {
		return fmt.Errorf("table prefix %q must be up to 55 letters and digits starting with a letter", prefix)
	}
	return nil
}

// New returns a Store on svc whose tables are prefix+"findings",
// prefix+"jobs" and prefix+"audit". The prefix is empty or up to 55 letters
// and digits starting with a letter, so that every table name is valid;
// anything else is an error. New makes no call to the service: run
// EnsureTables once before use.
func New(svc *aztables.ServiceClient, prefix string) (*Store, error) {
	if svc == nil {
		return nil, errors.New("new table store: no service client")
	}
	if err := CheckPrefix(prefix); err != nil {
		return nil, fmt.Errorf("new table store: %w", err)
	}
	s := &Store{svc: svc, tables: []string{prefix + findingsSuffix, prefix + jobsSuffix, prefix + auditSuffix, prefix + kpisSuffix}}
	s.findings = svc.NewClient(s.tables[0])
	s.jobs = svc.NewClient(s.tables[1])
	s.audit = svc.NewClient(s.tables[2])
	s.kpis = svc.NewClient(s.tables[3])
	return s, nil
}

// Tables returns the names of the store's tables: findings, jobs, audit,
// kpis.
func (s *Store) Tables() []string { return append([]string(nil), s.tables...) }

// EnsureTables creates the store's tables; a table that exists already is
// success. Failures are classified *guard.Errors (azerr.Classify); a table
// still being deleted gives a transient one.
func (s *Store) EnsureTables(ctx context.Context) error {
	for _, name := range s.tables {
		_, err := s.svc.CreateTable(ctx, name, nil)
		if err == nil {
			continue
		}
		err = azerr.Classify("create table "+name, err)
		if guard.CodeOf(err) != string(aztables.TableAlreadyExists) {
			return err
		}
	}
	return nil
}
