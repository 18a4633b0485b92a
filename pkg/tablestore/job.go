package tablestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// jobEntity is a remediation job as a row of the jobs table.
type jobEntity struct {
	PartitionKey string // cluster's Key
	RowKey       string // guard.EncodeKey(job ID)
	clusterColumns
	JobID        string `json:"JobId"`
	State        string
	CreatedAt    string   `json:",omitempty"`
	UpdatedAt    string   `json:",omitempty"`
	NextWake     string   `json:",omitempty"`
	WakeSeq      edmInt64 `json:"WakeSeq"`
	WakeSeqType  string   `json:"WakeSeq@odata.type"`
	Attempts     edmInt64 `json:"Attempts"`
	AttemptsType string   `json:"Attempts@odata.type"`
	Mode         string
	approvalColumns
	Plan            string // JSON of guard.Plan, "" before planning
	ResumeToken     string
	UpdateStartedAt string   `json:",omitempty"`
	UpdateETag      string   `json:"UpdateETag"`
	Replans         edmInt64 `json:"Replans"`
	ReplansType     string   `json:"Replans@odata.type"`
	ApprovedPlan    string   `json:",omitempty"`
	Granted         string   // JSON array of role assignment keys
	Kubelet         string   // JSON of guard.KubeletMove, "" before the claim
	NoNewerImage    string   // JSON array of pool names
	PoolToken       string
	PoolUpgrading   string
	Outcome         string
	Error           string
	Outbox          string // JSON array of guard.Effect
}

func jobToEntity(j *guard.Job) (*jobEntity, error) {
	outbox, err := jsonColumn("Outbox", j.Outbox)
	if err != nil {
		return nil, err
	}
	plan, err := objectColumn("Plan", j.Plan)
	if err != nil {
		return nil, err
	}
	granted, err := jsonColumn("Granted", j.Granted)
	if err != nil {
		return nil, err
	}
	approval, err := approvalColumnsOf(j.Approval)
	if err != nil {
		return nil, err
	}
	kubelet, err := objectColumn("Kubelet", j.Kubelet)
	if err != nil {
		return nil, err
	}
	noNewer, err := jsonColumn("NoNewerImage", j.NoNewerImage)
	if err != nil {
		return nil, err
	}
	e := &jobEntity{
		PartitionKey:    j.Cluster.Key(),
		RowKey:          guard.EncodeKey(j.ID),
		clusterColumns:  clusterColumnsOf(j.Cluster),
		JobID:           j.ID,
		State:           string(j.State),
		CreatedAt:       formatTime(j.CreatedAt),
		UpdatedAt:       formatTime(j.UpdatedAt),
		NextWake:        formatTime(j.NextWake),
		WakeSeq:         edmInt64(j.WakeSeq),
		WakeSeqType:     edmInt64Type,
		Attempts:        edmInt64(j.Attempts),
		AttemptsType:    edmInt64Type,
		Mode:            string(j.Mode),
		approvalColumns: approval,
		Plan:            plan,
		ResumeToken:     j.ResumeToken,
		UpdateStartedAt: formatTime(j.UpdateStartedAt),
		UpdateETag:      j.UpdateETag,
		Replans:         edmInt64(j.Replans),
		ReplansType:     edmInt64Type,
		ApprovedPlan:    j.ApprovedPlan,
		Granted:         granted,
		Kubelet:         kubelet,
		NoNewerImage:    noNewer,
		PoolToken:       j.PoolToken,
		PoolUpgrading:   j.PoolUpgrading,
		Outcome:         j.Outcome,
		Error:           j.Error,
		Outbox:          outbox,
	}
	return e, nil
}

func (e *jobEntity) job(etag string) (guard.Job, error) {
	var d decoder
	j := guard.Job{
		Cluster:         e.id(),
		ID:              e.JobID,
		State:           guard.JobState(e.State),
		CreatedAt:       d.time("CreatedAt", e.CreatedAt),
		UpdatedAt:       d.time("UpdatedAt", e.UpdatedAt),
		NextWake:        d.time("NextWake", e.NextWake),
		WakeSeq:         int(e.WakeSeq),
		Attempts:        int(e.Attempts),
		Mode:            guard.Mode(e.Mode),
		Approval:        e.approval(&d),
		Plan:            decodeObject[guard.Plan](&d, "Plan", e.Plan),
		ResumeToken:     e.ResumeToken,
		UpdateStartedAt: d.time("UpdateStartedAt", e.UpdateStartedAt),
		UpdateETag:      e.UpdateETag,
		Replans:         int(e.Replans),
		ApprovedPlan:    e.ApprovedPlan,
		Granted:         decodeList[string](&d, "Granted", e.Granted),
		Kubelet:         decodeObject[guard.KubeletMove](&d, "Kubelet", e.Kubelet),
		NoNewerImage:    decodeList[string](&d, "NoNewerImage", e.NoNewerImage),
		PoolToken:       e.PoolToken,
		PoolUpgrading:   e.PoolUpgrading,
		Outcome:         e.Outcome,
		Error:           e.Error,
		Outbox:          decodeList[guard.Effect](&d, "Outbox", e.Outbox),
		ETag:            etag,
	}
	if d.err != nil {
		return guard.Job{}, guard.Errorf(guard.KindInvalid, "decode job %s/%s: %w", e.PartitionKey, e.RowKey, d.err)
	}
	return j, nil
}

// Job returns one job, or a *guard.Error of KindNotFound. Other failures
// are classified *guard.Errors.
func (s *Store) Job(ctx context.Context, id guard.ClusterID, jobID string) (guard.Job, error) {
	op := "get job " + jobID + " of " + id.String()
	if id.IsZero() || jobID == "" {
		return guard.Job{}, guard.Errorf(guard.KindInvalid, "%s: no cluster or no job id", op)
	}
	var e jobEntity
	etag, err := get(ctx, s.jobs, op, id.Key(), guard.EncodeKey(jobID), &e)
	if err != nil {
		return guard.Job{}, err
	}
	return e.job(etag)
}

// SaveJob inserts j when j.ETag is empty, else replaces the stored job if
// its ETag is still j.ETag, and sets j.ETag to the new version. A job that
// exists (on insert), changed or was deleted (on replace) is a KindConflict;
// a column over 64 KiB is a KindInvalid naming it. j is unchanged on error.
func (s *Store) SaveJob(ctx context.Context, j *guard.Job) error {
	op := "save job " + j.ID + " of " + j.Cluster.String()
	if j.Cluster.IsZero() || j.ID == "" {
		return guard.Errorf(guard.KindInvalid, "%s: no cluster or no job id", op)
	}
	e, err := jobToEntity(j)
	if err != nil {
		return guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
	}
	etag, err := save(ctx, s.jobs, op, e, j.ETag)
	if err != nil {
		return err
	}
	j.ETag = etag
	return nil
}

// Jobs returns every job, in no particular order, each with its current
// ETag. Failures are classified *guard.Errors.
func (s *Store) Jobs(ctx context.Context) ([]guard.Job, error) {
	return list(ctx, s.jobs, "list jobs", "", (*jobEntity).job)
}

// JobsIn returns the jobs in one of states, with a filter on State. A row
// it cannot decode is left out with a *guard.PartialError.
func (s *Store) JobsIn(ctx context.Context, states ...guard.JobState) ([]guard.Job, error) {
	if len(states) == 0 {
		return nil, nil
	}
	return listGood(ctx, s.jobs, "list jobs in "+fmt.Sprint(states), stateFilter(states), (*jobEntity).job)
}

// stateFilter is the OData filter for rows whose State is one of states.
func stateFilter[S ~string](states []S) string {
	terms := make([]string, len(states))
	for i, st := range states {
		terms[i] = "State eq " + quote(string(st))
	}
	return strings.Join(terms, " or ")
}

// JobCounts counts every job by state. It asks the service for the State
// column alone, so what it reads stays small however many jobs were run.
func (s *Store) JobCounts(ctx context.Context) (map[guard.JobState]int, error) {
	sel := "State"
	pager := s.jobs.NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: &sel})
	out := map[guard.JobState]int{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, azerr.Classify("count jobs", err)
		}
		for _, raw := range page.Entities {
			var row struct{ State string }
			if err := json.Unmarshal(raw, &row); err != nil {
				return nil, guard.Errorf(guard.KindInvalid, "count jobs: decode entity: %w", err)
			}
			out[guard.JobState(row.State)]++
		}
	}
	return out, nil
}

// DueJobs returns the jobs not finished whose next wake-up is before
// before, and those with effects pending, with a filter on the State,
// NextWake and Outbox columns, which rows of every version have; NextWake
// compares as text, which its fixed layout orders as time. A row it cannot
// decode is left out with a *guard.PartialError.
func (s *Store) DueJobs(ctx context.Context, before time.Time) ([]guard.Job, error) {
	var open []string
	for _, st := range guard.TerminalStates {
		open = append(open, "State ne "+quote(string(st)))
	}
	filter := "(" + strings.Join(open, " and ") + " and NextWake lt " + quote(formatTime(before)) + ") or " + pendingFilter
	return listGood(ctx, s.jobs, "list jobs due before "+formatTime(before), filter, (*jobEntity).job)
}

// pendingFilter selects records whose outbox holds effects: jsonColumn
// writes an empty one as "[]"; older versions may have written "".
const pendingFilter = "(Outbox ne '[]' and Outbox ne '')"
