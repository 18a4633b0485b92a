package tablestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// save writes entity to c under the store's ETag rule and returns the new
// ETag. An empty etag inserts with AddEntity: an existing entity is a
// KindConflict. Any other etag replaces with UpdateEntity, If-Match etag:
// a changed entity is a KindConflict (412), and so is a missing one (404),
// since the record was deleted under the caller. Errors are classified
// *guard.Errors; an entity over Table Storage's limits is KindInvalid.
func save(ctx context.Context, c *aztables.Client, op string, entity any, etag string) (string, error) {
	if err := checkEntity(op, entity); err != nil {
		return "", err
	}
	b, err := json.Marshal(entity)
	if err != nil {
		return "", guard.Errorf(guard.KindInvalid, "%s: encode entity: %w", op, err)
	}
	var got azcore.ETag
	if etag == "" {
		resp, err := c.AddEntity(ctx, b, nil)
		if err != nil {
			return "", azerr.Classify(op, err)
		}
		got = resp.ETag
	} else {
		match := azcore.ETag(etag)
		resp, err := c.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace, IfMatch: &match})
		if err != nil {
			return "", deletedIsConflict(azerr.Classify(op, err))
		}
		got = resp.ETag
	}
	if got == "" {
		return "", guard.Errorf(guard.KindTransient, "%s: the service returned no ETag", op)
	}
	return string(got), nil
}

// deletedIsConflict turns "entity not found" on a replace into KindConflict:
// for the store's contract the record changed under the caller. A missing
// table stays KindNotFound.
func deletedIsConflict(err error) error {
	var ge *guard.Error
	if errors.As(err, &ge) && ge.Kind == guard.KindNotFound && ge.Code != string(aztables.TableNotFound) {
		return &guard.Error{Kind: guard.KindConflict, Code: ge.Code, Err: fmt.Errorf("%w (the record was deleted)", ge.Err)}
	}
	return err
}

// get reads one entity into v and returns its ETag. A missing entity is a
// KindNotFound; other errors are classified.
func get(ctx context.Context, c *aztables.Client, op, pk, rk string, v any) (string, error) {
	resp, err := c.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		return "", azerr.Classify(op, err)
	}
	if err := json.Unmarshal(resp.Value, v); err != nil {
		return "", guard.Errorf(guard.KindInvalid, "%s: decode entity: %w", op, err)
	}
	return string(resp.ETag), nil
}

// list pages through the entities of c that match filter ("" for all),
// decodes each into an E and turns it into a record with conv, which gets
// the entity's ETag. It stops at the first error.
func list[E, T any](ctx context.Context, c *aztables.Client, op, filter string, conv func(e *E, etag string) (T, error)) ([]T, error) {
	out, bad, err := query(ctx, c, op, filter, conv)
	if err == nil && len(bad) > 0 {
		err = guard.Errorf(guard.KindInvalid, "%s: %s", op, bad[0])
	}
	return out, err
}

// listGood is list that leaves out a row it cannot decode: the others come
// back with a *guard.PartialError naming it.
func listGood[E, T any](ctx context.Context, c *aztables.Client, op, filter string, conv func(e *E, etag string) (T, error)) ([]T, error) {
	out, bad, err := query(ctx, c, op, filter, conv)
	if err == nil && len(bad) > 0 {
		err = &guard.PartialError{Bad: bad}
	}
	return out, err
}

// query pages through the entities of c that match filter, and returns
// the records it could decode and what it could not.
func query[E, T any](ctx context.Context, c *aztables.Client, op, filter string, conv func(e *E, etag string) (T, error)) (out []T, bad []string, err error) {
	opts := &aztables.ListEntitiesOptions{}
	if filter != "" {
		opts.Filter = &filter
	}
	pager := c.NewListEntitiesPager(opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, nil, azerr.Classify(op, err)
		}
		for _, raw := range page.Entities {
			var meta struct {
				ETag         string `json:"odata.etag"`
				PartitionKey string
				RowKey       string
			}
			if err := json.Unmarshal(raw, &meta); err != nil {
				bad = append(bad, "decode entity: "+err.Error())
				continue
			}
			var e E
			if err := json.Unmarshal(raw, &e); err != nil {
				bad = append(bad, meta.PartitionKey+"/"+meta.RowKey+": decode entity: "+err.Error())
				continue
			}
			rec, err := conv(&e, meta.ETag)
			if err != nil {
				bad = append(bad, meta.PartitionKey+"/"+meta.RowKey+": "+err.Error())
				continue
			}
			out = append(out, rec)
		}
	}
	return out, bad, nil
}

// quote writes s as an OData string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// partitionFilter is the OData filter for one partition, quotes escaped.
func partitionFilter(pk string) string { return "PartitionKey eq " + quote(pk) }
