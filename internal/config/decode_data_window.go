package config

import (
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file decodes compare_data's reconcile window and throttle: where,
// min_age, updated_at and throttle.

func (d *decoder) dataWhere(n *yaml.Node, l loc, w *DataWhere) {
	d.mapping(n, l,
		field{"legacy", func(v *yaml.Node, l loc) { d.checked(v, l, &w.Legacy, checkWhere) }},
		field{"new", func(v *yaml.Node, l loc) { d.checked(v, l, &w.New, checkWhere) }},
	)
}

// checkWhere refuses what is visibly not one condition; the rest is
// checked when reconcile starts (quotes, comments, parentheses) and by
// the database.
func checkWhere(s string) string {
	switch {
	case strings.Contains(s, ";"):
		return "expected one SQL condition without ';' (a where fragment is never a second statement)"
	case strings.TrimSpace(s) == "":
		return "expected an SQL condition such as \"deleted = 0\""
	}
	return ""
}

func (d *decoder) dataUpdatedAt(n *yaml.Node, l loc, u *DataUpdatedAt) {
	d.mapping(n, l,
		field{"legacy", func(v *yaml.Node, l loc) { d.checked(v, l, &u.Legacy, reCheck(columnNameRe, columnWant)) }},
		field{"new", func(v *yaml.Node, l loc) { d.checked(v, l, &u.New, reCheck(columnNameRe, columnWant)) }},
	)
}

func (d *decoder) dataThrottle(n *yaml.Node, l loc, t *DataThrottle) {
	d.mapping(n, l,
		field{"max_query_seconds", func(v *yaml.Node, l loc) {
			if f, ok := d.number(v, l, 0.01, 3600); ok {
				t.MaxQuerySeconds = f
			}
		}},
		field{"max_threads_running", func(v *yaml.Node, l loc) {
			if i, ok := d.integer(v, l, 1, 1_000_000); ok {
				t.MaxThreadsRunning = int(i)
			}
		}},
		field{"max_replica_lag", func(v *yaml.Node, l loc) { d.duration(v, l, &t.MaxReplicaLag, time.Second) }},
		field{"pause_file", func(v *yaml.Node, l loc) { d.str(v, l, &t.PauseFile) }},
	)
}

// validateDataWindow checks what spans the window's keys: min_age needs
// updated_at on both sides, and updated_at is only read for min_age.
func (d *decoder) validateDataWindow(base string, cd *CompareData) {
	if cd.MinAge > 0 {
		if cd.UpdatedAt.Legacy == "" {
			d.fail(base+".updated_at.legacy", "required with min_age: the legacy side's last-modified column")
		}
		if cd.UpdatedAt.New == "" {
			d.fail(base+".updated_at.new", "required with min_age: the new side's last-modified column")
		}
	} else if d.present(base+".updated_at") && !d.present(base+".min_age") {
		d.fail(base+".updated_at", "only used with min_age: set min_age too, or remove updated_at")
	}
	if d.present(base+".throttle.pause_file") && cd.Throttle.PauseFile == "" {
		d.fail(base+".throttle.pause_file", "must not be empty")
	}
}
