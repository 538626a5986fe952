package mysql

import (
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture/capturetest"
)

// TestDottedSchema: a database (the MySQL schema) whose name holds a dot,
// captured whole through its DSN (the config cannot list it), and a table
// and columns named with a space, '$', a hyphen, mixed case and non-ASCII,
// arrive on the documented subject with the real names in source.
func TestDottedSchema(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.DB.Exec(t, "CREATE DATABASE `My.Db`")
	h.DB.Exec(t, "CREATE TABLE `My.Db`.`Tab le-$é` (`Id Col` int PRIMARY KEY, `v.1$` varchar(10)) DEFAULT CHARSET=utf8mb4")
	h.DB.Exec(t, "INSERT INTO `My.Db`.`Tab le-$é` VALUES (1, 'snap')")
	cfg := config(h)
	cfg.DSN = strings.Replace(cfg.DSN, "/ficus?", "/My.Db?", 1)
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Start(src)
	h.DB.Exec(t, "INSERT INTO `My.Db`.`Tab le-$é` VALUES (2, 'live')")
	const subj = "ficus.cdc." + capturetest.SourceName + ".My%2EDb.Tab%20le-%24%C3%A9"
	for i, e := range h.Events(2, 30*time.Second) {
		src := e.Source()
		if e.Subject != subj || src["db"] != "My.Db" || src["schema"] != "My.Db" || src["table"] != "Tab le-$é" {
			t.Errorf("event %d: subject %q, source.db %v, source.schema %v, source.table %v; want %q, My.Db, My.Db, Tab le-$é",
				i, e.Subject, src["db"], src["schema"], src["table"], subj)
		}
		want := map[int]string{0: `{"Id Col":1,"v.1$":"snap"}`, 1: `{"Id Col":2,"v.1$":"live"}`}[i]
		if got := string(e.Fields["after"]); got != want {
			t.Errorf("event %d: after %s, want %s", i, got, want)
		}
	}
}
