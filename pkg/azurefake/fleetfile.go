package azurefake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

// maxFleetFile bounds what LoadFleet reads.
const maxFleetFile = 32 << 20

// LoadFleet reads a fleet file in one of two forms:
//   - a JSON array of managed clusters as ARM's REST API returns them (id,
//     name, type, location, tags, eTag, identity, properties);
//   - a JSON object whose "clusters" is that array and whose optional
//     "maintenanceConfigurations" maps a cluster's resource ID to a JSON
//     array of its maintenance configurations as ARM returns them (name,
//     properties; the id may be left out). Other keys are ignored, so the
//     file can carry data for other simulations.
//
// Every cluster must have a managed cluster's resource ID, unique in the
// file, and a "properties" object. A cluster keeps the eTag the file gives
// it and gets a fresh one otherwise. Maintenance configurations must belong
// to a cluster of the file and have a name, unique for their cluster. The
// error names the problem and, for one cluster or configuration, its
// position and ID.
func LoadFleet(r io.Reader) (*Fleet, error) {
	f := NewFleet()
	if err := f.Load(r); err != nil {
		return nil, err
	}
	return f, nil
}

// Load adds the clusters and maintenance configurations of a fleet file, in
// LoadFleet's forms, to f, which must hold none of them yet. The clusters
// exist from before the change history begins: they have no change
// records.
func (f *Fleet) Load(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, maxFleetFile+1))
	if err != nil {
		return fmt.Errorf("read fleet file: %w", err)
	}
	if len(data) > maxFleetFile {
		return fmt.Errorf("read fleet file: larger than %d bytes", maxFleetFile)
	}
	var file fleetFile
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		if err := json.Unmarshal(data, &file); err != nil {
			return fmt.Errorf("read fleet file: %s", jsonProblem(data, err))
		}
		if file.Clusters == nil {
			return errors.New(`read fleet file: a JSON object without "clusters": want an array of managed clusters there`)
		}
	} else if err := json.Unmarshal(data, &file.Clusters); err != nil {
		return fmt.Errorf("read fleet file: %s", jsonProblem(data, err))
	}
	clusters := map[string]armcontainerservice.ManagedCluster{}
	maintenance := map[string][]armcontainerservice.MaintenanceConfiguration{}
	ids := map[string]int{} // cluster position by key
	for i, raw := range file.Clusters {
		mc, err := decodeCluster(raw)
		if err != nil {
			return fmt.Errorf("read fleet file: cluster %d: %w", i, err)
		}
		id, _ := armid.ParseCluster(*mc.ID) // decodeCluster checked it
		k := key(id)
		if j, dup := ids[k]; dup {
			return fmt.Errorf("read fleet file: cluster %d: %s repeats cluster %d", i, *mc.ID, j)
		}
		ids[k] = i
		clusters[k] = mc
	}
	// Sorted, so that the error about a file with several problems is
	// always the same.
	for _, cid := range slices.Sorted(maps.Keys(file.MaintenanceConfigurations)) {
		id, err := armid.ParseCluster(cid)
		if err != nil {
			return fmt.Errorf("read fleet file: maintenanceConfigurations: %w", err)
		}
		k := key(id)
		if _, ok := ids[k]; !ok {
			return fmt.Errorf("read fleet file: maintenanceConfigurations: %s is not a cluster of the file", cid)
		}
		if _, dup := maintenance[k]; dup {
			return fmt.Errorf("read fleet file: maintenanceConfigurations: %s repeats a cluster", cid)
		}
		cfgs := make([]armcontainerservice.MaintenanceConfiguration, 0, len(file.MaintenanceConfigurations[cid]))
		for i, raw := range file.MaintenanceConfigurations[cid] {
			mc, err := decodeMaintenanceConfig(raw)
			if err != nil {
				return fmt.Errorf("read fleet file: maintenanceConfigurations of %s: configuration %d: %w", cid, i, err)
			}
			cfgs = append(cfgs, mc)
		}
		cfgs, err = maintenanceConfigsOf(id, cfgs)
		if err != nil {
			return fmt.Errorf("read fleet file: maintenanceConfigurations of %s: %w", cid, err)
		}
		maintenance[k] = cfgs
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, mc := range clusters {
		if _, ok := f.clusters[k]; ok {
			return fmt.Errorf("read fleet file: %s is in the fleet already", *mc.ID)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(clusters)) {
		mc := clusters[k]
		if deref(mc.ETag) == "" {
			mc.ETag = f.nextETag("")
		}
		f.clusters[k] = mc
	}
	maps.Copy(f.maintenance, maintenance)
	return nil
}

// fleetFile is the object form of a fleet file; the array form fills
// Clusters only.
type fleetFile struct {
	Clusters                  []json.RawMessage            `json:"clusters"`
	MaintenanceConfigurations map[string][]json.RawMessage `json:"maintenanceConfigurations"`
}

// decodeCluster decodes and checks one element of a fleet file.
func decodeCluster(raw json.RawMessage) (armcontainerservice.ManagedCluster, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return armcontainerservice.ManagedCluster{}, errors.New("not a JSON object")
	}
	var mc armcontainerservice.ManagedCluster
	if err := json.Unmarshal(raw, &mc); err != nil {
		return armcontainerservice.ManagedCluster{}, err
	}
	if deref(mc.ID) == "" {
		return armcontainerservice.ManagedCluster{}, fmt.Errorf("no \"id\" (name %q)", deref(mc.Name))
	}
	if _, err := armid.ParseCluster(*mc.ID); err != nil {
		return armcontainerservice.ManagedCluster{}, err
	}
	if p, ok := fields["properties"]; !ok || bytes.Equal(bytes.TrimSpace(p), []byte("null")) {
		return armcontainerservice.ManagedCluster{}, fmt.Errorf("%s: no \"properties\" object: a fleet file holds ARM REST bodies, not az aks show output", *mc.ID)
	}
	return mc, nil
}

// decodeMaintenanceConfig decodes one maintenance configuration of a fleet
// file.
func decodeMaintenanceConfig(raw json.RawMessage) (armcontainerservice.MaintenanceConfiguration, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return armcontainerservice.MaintenanceConfiguration{}, errors.New("not a JSON object")
	}
	var mc armcontainerservice.MaintenanceConfiguration
	if err := json.Unmarshal(raw, &mc); err != nil {
		return armcontainerservice.MaintenanceConfiguration{}, err
	}
	return mc, nil
}

// jsonProblem describes a JSON decoding error with its line and column.
func jsonProblem(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bytes read, the offending one included.
		line, col := position(data, syn.Offset-1)
		return fmt.Sprintf("line %d, column %d: %v", line, col, err)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Sprintf(`want a JSON array of managed clusters or an object with "clusters", got a JSON %s`, typ.Value)
	case errors.As(err, &typ):
		want := "array"
		if typ.Type != nil && typ.Type.Kind() == reflect.Map {
			want = "object"
		}
		return fmt.Sprintf("%q: want a JSON %s, got a JSON %s", typ.Field, want, typ.Value)
	}
	return err.Error()
}

// position returns the 1-based line and column of the byte at offset.
func position(data []byte, offset int64) (line, col int) {
	before := data[:min(max(offset, 0), int64(len(data)))]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// maintenanceConfigsOf checks the maintenance configurations of cluster id
// and returns copies with their resource IDs filled in: each must have a
// name, unique case-insensitively, and an ID, when it has one, that names
// it under the cluster.
func maintenanceConfigsOf(id guard.ClusterID, cfgs []armcontainerservice.MaintenanceConfiguration) ([]armcontainerservice.MaintenanceConfiguration, error) {
	out := make([]armcontainerservice.MaintenanceConfiguration, 0, len(cfgs))
	seen := map[string]int{}
	for i, mc := range cfgs {
		name := deref(mc.Name)
		if name == "" {
			return nil, fmt.Errorf("configuration %d: no \"name\"", i)
		}
		if j, dup := seen[strings.ToLower(name)]; dup {
			return nil, fmt.Errorf("configuration %d: name %q repeats configuration %d", i, name, j)
		}
		seen[strings.ToLower(name)] = i
		want := id.String() + "/maintenanceConfigurations/" + name
		switch got := deref(mc.ID); {
		case got == "":
			mc.ID = &want
		case !strings.EqualFold(got, want):
			return nil, fmt.Errorf("configuration %d (%s): id %s is not %s", i, name, got, want)
		}
		out = append(out, cloneJSON(mc))
	}
	return out, nil
}
