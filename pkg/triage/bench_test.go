package triage

import (
	"testing"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/triage/triagetest"
)

// BenchmarkDecode measures decoding and triage of one real-sized event: the
// Microsoft docs' ResourceWriteSuccess event (testdata/samples, with its full
// set of ARM claims) pointed at an AKS cluster write, about 2.2 KB compacted.
// The CloudEvents sample has empty claims, so it carries the docs' claims
// too: both schemas decode the same payload.
func BenchmarkDecode(b *testing.B) {
	claims := triagetest.DocsClaims(b)
	for _, schema := range []string{triagetest.EventGrid, triagetest.CloudEvent} {
		b.Run(schema, func(b *testing.B) {
			raw := triagetest.JSON(b, triagetest.Spec{Schema: schema, ID: "e1", Operation: opClusterWrite, Resource: clusterID, Claims: claims})
			evs, err := Decode(raw)
			if err != nil || len(evs) != 1 || evs[0].Action != guard.ActionEvaluate || evs[0].Cluster != cluster || evs[0].Actor.ObjectID == "" {
				b.Fatalf("Decode(%s sample) = %+v, %v, want one evaluate event for %s with its caller", schema, evs, err, clusterID)
			}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
