package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The public files, by name.
const (
	fileDebian  = "debian-dsa-dla-2002-2019.csv"
	fileUbuntu  = "ubuntu-usn-2004-2019.csv"
	fileUpdates = "debian-updates-2002-2019.csv"
)

// advisory is one row of the per-advisory files.
type advisory struct {
	id, tracker     string
	date            time.Time
	packages        []string
	releases        string
	cves            int
	regression      bool
	regressionID    string
	isRegressionFix bool
}

// update is one row of the per-release Debian file.
type update struct {
	id, tracker, source, release string
	date                         time.Time
	from, to                     string
	cves                         []string
	regression, isRegressionFix  bool
}

type fileStat struct {
	name       string
	rows, used int
}

type dataset struct {
	advisories []advisory // Debian and Ubuntu, regression fixes left out
	updates    []update   // Debian per release, regression fixes left out
	files      []fileStat
	from, to   time.Time
}

// loadDataset reads the three files in dir, keeping rows whose date keep
// accepts and that are not regression fixes themselves.
func loadDataset(dir string, keep func(time.Time) bool) (*dataset, error) {
	ds := &dataset{}
	for _, f := range []struct {
		name string
		load func(row map[string]string) (time.Time, bool, error)
	}{
		{fileDebian, func(row map[string]string) (time.Time, bool, error) { return ds.addAdvisory(row, row["tracker"], keep) }},
		{fileUbuntu, func(row map[string]string) (time.Time, bool, error) { return ds.addAdvisory(row, "USN", keep) }},
		{fileUpdates, func(row map[string]string) (time.Time, bool, error) { return ds.addUpdate(row, keep) }},
	} {
		st, err := readCSV(filepath.Join(dir, f.name), f.load, ds)
		if err != nil {
			return nil, err
		}
		ds.files = append(ds.files, st)
	}
	return ds, nil
}

func readCSV(path string, load func(map[string]string) (time.Time, bool, error), ds *dataset) (fileStat, error) {
	st := fileStat{name: filepath.Base(path)}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return st, fmt.Errorf("%s: not found (point -data at the folder with the public regression files)", path)
		}
		return st, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return st, fmt.Errorf("%s: read header: %w", path, err)
	}
	line := 1
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return st, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			if i < len(rec) {
				row[h] = strings.TrimSpace(rec[i])
			}
		}
		st.rows++
		t, used, err := load(row)
		if err != nil {
			return st, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if used {
			st.used++
			if ds.from.IsZero() || t.Before(ds.from) {
				ds.from = t
			}
			if t.After(ds.to) {
				ds.to = t
			}
		}
	}
	return st, nil
}

func parseDate(row map[string]string) (time.Time, error) {
	t, err := time.Parse(dateLayout, row["date"])
	if err != nil {
		return t, fmt.Errorf("column date: expected YYYY-MM-DD, got %q", row["date"])
	}
	return t, nil
}

func parseFlag(row map[string]string, col string) (bool, error) {
	switch row[col] {
	case "1":
		return true, nil
	case "0", "":
		return false, nil
	}
	return false, fmt.Errorf("column %s: expected 0 or 1, got %q", col, row[col])
}

func (ds *dataset) addAdvisory(row map[string]string, tracker string, keep func(time.Time) bool) (time.Time, bool, error) {
	t, err := parseDate(row)
	if err != nil {
		return t, false, err
	}
	a := advisory{id: row["advisory_id"], tracker: tracker, date: t, packages: strings.Fields(row["source_package"]),
		releases: row["releases"], regressionID: row["regression_advisory_id"]}
	if a.regression, err = parseFlag(row, "was_followed_by_regression"); err != nil {
		return t, false, err
	}
	if a.isRegressionFix, err = parseFlag(row, "is_regression_fix"); err != nil {
		return t, false, err
	}
	if row["cves_count"] != "" {
		if a.cves, err = strconv.Atoi(row["cves_count"]); err != nil || a.cves < 0 {
			return t, false, fmt.Errorf("column cves_count: expected a count, got %q", row["cves_count"])
		}
	}
	if a.isRegressionFix || len(a.packages) == 0 || !keep(t) {
		return t, false, nil
	}
	ds.advisories = append(ds.advisories, a)
	return t, true, nil
}

func (ds *dataset) addUpdate(row map[string]string, keep func(time.Time) bool) (time.Time, bool, error) {
	t, err := parseDate(row)
	if err != nil {
		return t, false, err
	}
	u := update{id: row["advisory_id"], tracker: row["tracker"], source: row["source_package"], release: row["release"],
		date: t, from: row["from_version"], to: row["to_version"], cves: strings.Fields(row["cves"])}
	if u.regression, err = parseFlag(row, "was_followed_by_regression"); err != nil {
		return t, false, err
	}
	if u.isRegressionFix, err = parseFlag(row, "is_regression_fix"); err != nil {
		return t, false, err
	}
	if u.isRegressionFix || u.source == "" || !keep(t) {
		return t, false, nil
	}
	ds.updates = append(ds.updates, u)
	return t, true, nil
}
