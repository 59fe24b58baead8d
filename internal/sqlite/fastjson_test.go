package sqlite

import (
	"encoding/json"
	"reflect"
	"testing"
)

// jsonList and jsonMap are decodeList[string] and decodeMap through
// encoding/json alone: what the plain parsers must give.
func jsonList(s string) ([]string, bool) {
	if s == "" || s == "[]" || s == "null" {
		return nil, true
	}
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, false
	}
	if len(v) == 0 {
		return nil, true
	}
	return v, true
}

func jsonMap(s string) (map[string]string, bool) {
	if s == "" || s == "{}" || s == "null" {
		return nil, true
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, false
	}
	if len(m) == 0 {
		return nil, true
	}
	return m, true
}

var plainJSONSeeds = []string{
	``, `[]`, `{}`, `null`, `[""]`, `["a"]`, `["a","b"]`, `["ssh.service","dbus.service"]`, `[ "a" ]`, `["a",]`,
	`["a"]]`, `["a]"]`, `["a`, `[`, `]`, `["a" ,"b"]`, `["\u00e9"]`, `["a\"b"]`, `["a\\b"]`, "[\"a\tb\"]",
	"[\"\xff\"]", `["é","ü"]`, `[1]`, `["a",1]`, `[null]`, `["a",null]`, `[[]]`, `{"a":"b"}`, `{"env":"prod","role":"web"}`,
	`{"a":"1","a":"2"}`, `{"a":1}`, `{"a":null}`, `{"a":"b",}`, `{"a" :"b"}`, `{"a":"b"}}`, `{"a}":"b"}`, `{"":""}`,
	`{"a":"\u003c"}`, `{"a":"b"`, `{a:"b"}`, "{\"a\":\"\xc3\"}", `{"a":"b","c"}`, `{"a":"b","c":}`, `{"a":""}`,
	`["a","b","c","d"]`, `{"k":"v\n"}`, `["x"] `, ` ["x"]`, `{"a":"b"} `,
}

// TestPlainJSONAsEncodingJSON checks that the stored lists and maps decode
// as encoding/json decodes them, in their plain form and every other.
func TestPlainJSONAsEncodingJSON(t *testing.T) {
	for _, s := range plainJSONSeeds {
		checkPlainJSON(t, s)
	}
}

func FuzzPlainJSON(f *testing.F) {
	for _, s := range plainJSONSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkPlainJSON(t, s) })
}

func checkPlainJSON(t *testing.T, s string) {
	t.Helper()
	wantL, okL := jsonList(s)
	gotL, err := decodeList[string](s)
	if (err == nil) != okL || !reflect.DeepEqual(gotL, wantL) {
		t.Errorf("decodeList(%q) = %q, %v; encoding/json gives %q, ok %v", s, gotL, err, wantL, okL)
	}
	wantM, okM := jsonMap(s)
	gotM, err := decodeMap(s)
	if (err == nil) != okM || !reflect.DeepEqual(gotM, wantM) {
		t.Errorf("decodeMap(%q) = %v, %v; encoding/json gives %v, ok %v", s, gotM, err, wantM, okM)
	}
}
