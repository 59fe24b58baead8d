package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/patchpilot/patchpilot"
)

// planFormatVersion is the version of the JSON form a rollout's plan is
// stored in: the JSON tags of patchpilot.Plan, beside "version".
const planFormatVersion = 1

// storedPlan is a plan as the store keeps it: {"version": 1, "name": ...}.
type storedPlan struct {
	Version int `json:"version"`
	patchpilot.Plan
}

// encodePlan renders a plan in its stored form.
func encodePlan(p patchpilot.Plan) ([]byte, error) {
	return json.Marshal(storedPlan{Version: planFormatVersion, Plan: p})
}

// decodePlan reads a stored plan: the versioned form, or the unversioned
// one older versions wrote (json.Marshal of patchpilot.Plan before it had
// JSON tags, keyed by Go field names), so that their rollouts can still be
// shown, resumed and rolled back. A version newer than this one reads is
// refused rather than half read.
func decodePlan(data []byte) (patchpilot.Plan, error) {
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return patchpilot.Plan{}, err
	}
	if head.Version == nil {
		var p patchpilot.Plan
		err := decodeByFieldNames(data, reflect.ValueOf(&p).Elem())
		return p, err
	}
	if *head.Version != planFormatVersion {
		return patchpilot.Plan{}, fmt.Errorf("plan format version %d: this patchpilot reads version %d and unversioned plans; use the version that started the rollout",
			*head.Version, planFormatVersion)
	}
	var sp storedPlan
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&sp); err != nil {
		return patchpilot.Plan{}, err
	}
	return sp.Plan, nil
}

// decodeByFieldNames decodes JSON written by encoding/json for a type
// without JSON tags into v, matching object keys to Go field names and
// ignoring the tags v's type has now. Values of types without fields
// (strings, numbers, durations, lists of them, maps of strings) are
// decoded by encoding/json, as the old code did.
func decodeByFieldNames(data []byte, v reflect.Value) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct:
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		for i := range t.NumField() {
			f := t.Field(i)
			raw, ok := obj[f.Name]
			if !ok || !f.IsExported() {
				continue
			}
			if err := decodeByFieldNames(raw, v.Field(i)); err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
		}
		return nil
	case t.Kind() == reflect.Slice && hasStruct(t.Elem()):
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, raw := range items {
			if err := decodeByFieldNames(raw, s.Index(i)); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		v.Set(s)
		return nil
	case hasStruct(t):
		return fmt.Errorf("%s: a stored type this decoder does not handle", t)
	}
	return json.Unmarshal(data, v.Addr().Interface())
}

// hasStruct reports whether values of t hold a struct anywhere.
func hasStruct(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		return true
	case reflect.Slice, reflect.Array, reflect.Pointer, reflect.Map:
		return hasStruct(t.Elem()) || (t.Kind() == reflect.Map && hasStruct(t.Key()))
	}
	return false
}
