package main

import (
	"testing"

	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// compare_data follows a table on the subject its capture source publishes
// it to: mapped names, or the source's override for that table.
func TestDataSideSubject(t *testing.T) {
	cfg := &config.Config{Capture: config.Capture{SubjectPrefix: "ficus.cdc", Sources: []config.Source{
		{Name: "legacy", Tables: []config.Table{{Table: "public.Weird Table"}, {Table: "public.Over Ride", Subject: "over_ride"}}},
	}}}
	for table, want := range map[string]string{
		"public.Weird Table": "ficus.cdc.legacy.public.Weird%20Table",
		"public.Over Ride":   "ficus.cdc.legacy.public.over_ride",
		"public.orders":      "ficus.cdc.legacy.public.orders",
	} {
		side, err := dataSide(cfg, config.DataSide{Source: "legacy", Table: table}, reconcile.Table{})
		if err != nil {
			t.Fatal(err)
		}
		if side.Subject != want || side.Stream != "FICUS_CDC_LEGACY" {
			t.Errorf("%s: stream %s subject %s, want FICUS_CDC_LEGACY %s", table, side.Stream, side.Subject, want)
		}
	}
}
