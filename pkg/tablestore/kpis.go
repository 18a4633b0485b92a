package tablestore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// kpisPartition holds every snapshot: one row a day, a few KB each, so a
// year of them is one small partition read in order.
const kpisPartition = "kpis"

// kpiEntity is a day's KPI snapshot as a row of the kpis table. The figures
// are one JSON column: they are read and written whole, and a new figure
// needs no new column.
type kpiEntity struct {
	PartitionKey string
	RowKey       string // guard.KPIDay
	At           string
	// KPIs is the JSON of guard.KPIs without its two lists, which have
	// columns of their own so each stays within a column's 64 KiB.
	KPIs          string
	Disagreements string // JSON array of guard.PolicyDisagreement
	Flagged       string // JSON array of guard.FlaggedCluster
}

// SaveKPIs keeps k as its day's snapshot, replacing an earlier one of the
// same day (an upsert: the last sweep of the day wins).
func (s *Store) SaveKPIs(ctx context.Context, k guard.KPIs) error {
	day := guard.KPIDay(k.At)
	op := "save the KPIs of " + day
	figures := k
	figures.Policy.Disagreements, figures.Flagged = nil, nil
	data, err := json.Marshal(figures)
	if err != nil {
		return guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
	}
	disagreements, err := jsonColumn("Disagreements", k.Policy.Disagreements)
	if err != nil {
		return err
	}
	flagged, err := jsonColumn("Flagged", k.Flagged)
	if err != nil {
		return err
	}
	e := &kpiEntity{PartitionKey: kpisPartition, RowKey: day, At: formatTime(k.At), KPIs: string(data),
		Disagreements: disagreements, Flagged: flagged}
	if err := checkEntity(op, e); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return guard.Errorf(guard.KindInvalid, "%s: encode entity: %w", op, err)
	}
	if _, err := s.kpis.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return azerr.Classify(op, err)
	}
	return nil
}

// KPIHistory returns the daily snapshots from since's day on, oldest
// first (RowKeys sort as dates).
func (s *Store) KPIHistory(ctx context.Context, since time.Time) ([]guard.KPIs, error) {
	filter := partitionFilter(kpisPartition) + " and RowKey ge " + quote(guard.KPIDay(since))
	return list(ctx, s.kpis, "read the KPI history", filter, func(e *kpiEntity, _ string) (guard.KPIs, error) {
		var k guard.KPIs
		if err := json.Unmarshal([]byte(e.KPIs), &k); err != nil {
			return k, guard.Errorf(guard.KindInvalid, "KPIs of %s: %w", e.RowKey, err)
		}
		var d decoder
		k.Policy.Disagreements = decodeList[guard.PolicyDisagreement](&d, "Disagreements", e.Disagreements)
		k.Flagged = decodeList[guard.FlaggedCluster](&d, "Flagged", e.Flagged)
		if d.err != nil {
			return k, guard.Errorf(guard.KindInvalid, "KPIs of %s: %w", e.RowKey, d.err)
		}
		return k, nil
	})
}
