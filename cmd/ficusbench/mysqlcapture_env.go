package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

const mysqlOrdersDDL = `CREATE TABLE ficus.orders (
	id bigint PRIMARY KEY AUTO_INCREMENT,
	customer_id int NOT NULL,
	amount decimal(12,2) NOT NULL,
	status varchar(20) NOT NULL,
	payload json,
	created_at datetime(6) NOT NULL)`

// mysqlLoadBatch inserts one range of MariaDB's sequence engine in one
// transaction; the values mirror the PostgreSQL benchmark's rows.
const mysqlLoadBatch = `INSERT INTO ficus.orders (customer_id, amount, status, payload, created_at)
SELECT (seq * 7919) %% 100000, ((seq * 31) %% 100000) / 100.0,
	ELT(1 + seq %% 5, 'new', 'paid', 'shipped', 'delivered', 'cancelled'),
	JSON_OBJECT('sku', CONCAT('SKU-', seq %% 5000), 'qty', 1 + seq %% 9, 'gift', seq %% 13 = 0,
		'note', MD5(seq), 'tags', JSON_ARRAY('web', CONCAT('promo-', seq %% 17))),
	TIMESTAMP '2024-01-01 00:00:00.000000' + INTERVAL seq SECOND
FROM seq_%d_to_%d`

// startMariaDB starts a throwaway MariaDB (testenv); the caller closes it.
func startMariaDB(ctx context.Context, log *slog.Logger) (*testenv.MariaDB, error) {
	m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{Logf: debugf(log)})
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	return m, nil
}

// loadMySQLRows writes n rows in transactions of at most batch rows.
func loadMySQLRows(ctx context.Context, db *sql.DB, n, batch int) (time.Duration, error) {
	began := time.Now()
	for lo := 1; lo <= n; lo += batch {
		hi := min(lo+batch-1, n)
		if _, err := db.ExecContext(ctx, fmt.Sprintf(mysqlLoadBatch, lo, hi)); err != nil {
			return 0, fmt.Errorf("load rows %d-%d: %w", lo, hi, err)
		}
	}
	return time.Since(began), nil
}

// binlogEnd is where the binlog ends after the load.
type binlogEnd struct {
	File  string `json:"file"`
	Pos   uint32 `json:"pos"`
	GTID  string `json:"gtid"`
	First string `json:"first_file"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
}

func readBinlogEnd(ctx context.Context, db *sql.DB) (binlogEnd, error) {
	var e binlogEnd
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return e, fmt.Errorf("show binary logs: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		var name string
		var size int64
		dest := []any{&name, &size}
		for range len(cols) - 2 {
			dest = append(dest, new(sql.RawBytes))
		}
		if err := rows.Scan(dest...); err != nil {
			return e, fmt.Errorf("show binary logs: %w", err)
		}
		if e.First == "" {
			e.First = name
		}
		e.Files++
		e.Bytes += size
	}
	if err := rows.Err(); err != nil {
		return e, fmt.Errorf("show binary logs: %w", err)
	}
	// SHOW MASTER STATUS has four columns on MariaDB; only two matter.
	var ignore1, ignore2 sql.NullString
	if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&e.File, &e.Pos, &ignore1, &ignore2); err != nil {
		return e, fmt.Errorf("show master status: %w", err)
	}
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&e.GTID); err != nil {
		return e, fmt.Errorf("read gtid_binlog_pos: %w", err)
	}
	return e, nil
}

// binlogRead is one mariadb-binlog run.
type binlogRead struct {
	Flags       string  `json:"flags"`
	Seconds     float64 `json:"seconds"`
	RowsPerSec  float64 `json:"rows_per_sec"`
	OutputBytes int64   `json:"output_bytes"`
	// RowsSeen counts "### INSERT INTO" lines when rows are decoded: a check
	// that the tool really read every row.
	RowsSeen int `json:"rows_seen,omitempty"`
}

// runMariaDBBinlog reads every binlog file from the server over the
// replication protocol, as a replica (and ficus) does, into out. decode
// renders each row as commented pseudo-SQL (-v --base64-output=DECODE-ROWS):
// the source's limit with the row values decoded, as ficus must; otherwise
// --raw copies the binlog bytes untouched: the transfer limit alone.
func runMariaDBBinlog(ctx context.Context, m *testenv.MariaDB, first string, rows int, decode bool, out string) (binlogRead, error) {
	args := []string{"--read-from-remote-server", "--host", m.Host, "--port", strconv.Itoa(m.Port),
		"--user", "root", "--to-last-log"}
	if decode {
		args = append(args, "-v", "--base64-output=DECODE-ROWS", "--result-file="+out)
	} else {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return binlogRead{}, fmt.Errorf("raw binlog dir: %w", err)
		}
		args = append(args, "--raw", "--result-file="+out+"/")
	}
	args = append(args, first)
	cmd := exec.CommandContext(ctx, "mariadb-binlog", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		return binlogRead{}, fmt.Errorf("mariadb-binlog: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	took := time.Since(began)
	r := binlogRead{Flags: strings.Join(args[:len(args)-1], " ") + " " + first,
		Seconds: took.Seconds(), RowsPerSec: float64(rows) / took.Seconds()}
	r.Flags = strings.Replace(r.Flags, out, "OUT", 1)
	var err error
	if decode {
		r.OutputBytes, r.RowsSeen, err = countInserts(out)
	} else {
		r.OutputBytes, err = dirSize(out)
	}
	return r, err
}

func countInserts(path string) (int64, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("mariadb-binlog output: %w", err)
	}
	return int64(len(b)), bytes.Count(b, []byte("\n### INSERT INTO ")), nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("raw binlog dir: %w", err)
	}
	return n, nil
}
