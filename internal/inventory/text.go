package inventory

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/patchpilot/patchpilot"
)

// Control characters (unicode.IsControl: C0 and C1 controls, DEL; among
// them ESC, CR, LF, TAB and NUL) are refused in every string patchpilot
// takes from an inventory or a fact import: host and group names, labels,
// addresses, users, key files, jump hosts and facts. None of them has a
// use there, and stored as they are they would move the cursor, recolour
// or overwrite lines of a terminal that prints them, or cut a name short
// at a NUL. Variables patchpilot does not read are not checked: Ansible
// inventories legitimately hold multi-line strings (certificates, motd).

// controlHint is attached to every control-character error.
const controlHint = "remove the character (an escape sequence, carriage return or NUL is often left by a copy from a terminal or a file with Windows line ends)"

// firstControl returns the first control character of s and its byte
// offset, or ok false when s has none.
func firstControl(s string) (r rune, off int, ok bool) {
	for i, c := range s {
		if unicode.IsControl(c) {
			return c, i, true
		}
	}
	return 0, 0, false
}

// checkText refuses a string holding a control character, naming where it
// was written, the field and the character.
func checkText(at pos, field, s string) error {
	c, off, ok := firstControl(s)
	if !ok {
		return nil
	}
	return errAt(at, "%s %s holds the control character %U at byte %d; control characters are not allowed",
		field, strconv.Quote(s), c, off).WithHint(controlHint)
}

// checkValueText is checkText for a decoded string, naming the field
// anywhere inside a host or its facts ("labels[role]",
// "facts.packages[3].version"), for sources that do not know lines.
func checkValueText(at pos, what string, v any) error {
	field, s, found := findControl(reflect.ValueOf(v), "")
	if !found {
		return nil
	}
	c, off, _ := firstControl(s)
	return errAt(at, "%s: field %s %s holds the control character %U at byte %d; control characters are not allowed",
		what, field, strconv.Quote(s), c, off).WithHint(controlHint)
}

// findControl walks strings, structs, slices and maps (keys and values)
// and returns the path and value of the first string with a control
// character. Struct fields are named by their JSON names; Source fields
// are skipped, since they name the file the value was read from, which the
// error names anyway.
func findControl(v reflect.Value, path string) (string, string, bool) {
	switch v.Kind() {
	case reflect.String:
		if _, _, ok := firstControl(v.String()); ok {
			return path, v.String(), true
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Name == "Source" {
				continue
			}
			if p, s, ok := findControl(v.Field(i), joinField(path, jsonName(f))); ok {
				return p, s, true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if p, s, ok := findControl(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, s, true
			}
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			kp := fmt.Sprintf("%s[%v]", path, k)
			if k.Kind() == reflect.String {
				kp = fmt.Sprintf("%s[%s]", path, strconv.Quote(k.String()))
			}
			if _, s, ok := findControl(k, kp); ok {
				return kp + " (the key)", s, true
			}
			if p, s, ok := findControl(v.MapIndex(k), kp); ok {
				return p, s, true
			}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return findControl(v.Elem(), path)
		}
	}
	return "", "", false
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// jsonName is a struct field's JSON name, or its Go name without a tag.
func jsonName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if tag == "" || tag == "-" {
		return f.Name
	}
	return tag
}

// checkHostText is the last check of every loaded host: it catches what
// the parsers' own checks, which know lines, did not.
func checkHostText(h patchpilot.Host) error {
	return checkValueText(pos{file: h.Source}, "host "+strconv.Quote(h.Name), h)
}
