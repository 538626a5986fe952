package mysql

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// Server flavours.
const (
	FlavorMySQL   = gomysql.MySQLFlavor   // "mysql"
	FlavorMariaDB = gomysql.MariaDBFlavor // "mariadb"
)

// Position is the capture position: the end of the last transaction whose
// events are all durable in JetStream. GTID is MariaDB's gtid_binlog_pos form
// (one domain-server-seq per domain) or MySQL's executed GTID set, both as of
// the end of that transaction; empty when the server does not use GTIDs.
// File and Pos are the binlog coordinates of the same point. Streaming resumes
// from GTID when set (it survives binlog file renames on failover), else from
// File:Pos.
type Position struct {
	Flavor string `json:"flavor"`
	GTID   string `json:"gtid,omitempty"`
	File   string `json:"file,omitempty"`
	Pos    uint32 `json:"pos,omitempty"`
}

func (p Position) String() string {
	s := p.Flavor + " " + p.File + ":" + strconv.FormatUint(uint64(p.Pos), 10)
	if p.GTID != "" {
		s += " gtid " + strconv.Quote(p.GTID)
	}
	return s
}

// Encode is the checkpoint value stored in the KV bucket.
func (p Position) Encode() ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// ParsePosition decodes and validates a checkpoint value, normalising the
// GTID set to the library's canonical text.
func ParsePosition(b []byte) (Position, error) {
	var p Position
	if err := json.Unmarshal(b, &p); err != nil {
		return Position{}, fmt.Errorf("decode position: %w", err)
	}
	if err := p.validate(); err != nil {
		return Position{}, err
	}
	if p.GTID != "" {
		set, err := gomysql.ParseGTIDSet(p.Flavor, p.GTID)
		if err != nil {
			return Position{}, fmt.Errorf("position gtid %q: %w", p.GTID, err)
		}
		p.GTID = set.String()
	}
	return p, nil
}

func (p Position) validate() error {
	switch p.Flavor {
	case FlavorMySQL, FlavorMariaDB:
	default:
		return fmt.Errorf("position flavor %q: want mysql or mariadb", p.Flavor)
	}
	if p.GTID != "" {
		if _, err := gomysql.ParseGTIDSet(p.Flavor, p.GTID); err != nil {
			return fmt.Errorf("position gtid %q: %w", p.GTID, err)
		}
	}
	if p.File == "" && p.GTID == "" {
		return errors.New("position has neither a GTID set nor a binlog file")
	}
	if p.File != "" && p.Pos < 4 {
		return fmt.Errorf("position %s:%d: offset must be at least 4", p.File, p.Pos)
	}
	return nil
}

// gtidSet tracks the GTID state while streaming, per flavour.
type gtidSet struct {
	flavor string
	set    gomysql.GTIDSet
}

func newGTIDSet(flavor, s string) (*gtidSet, error) {
	set, err := gomysql.ParseGTIDSet(flavor, s)
	if err != nil {
		return nil, fmt.Errorf("parse %s gtid set %q: %w", flavor, s, err)
	}
	return &gtidSet{flavor: flavor, set: set}, nil
}

// add records a committed transaction's GTID (MariaDB "d-s-n", MySQL
// "uuid[:tag]:n").
func (g *gtidSet) add(gtid string) error {
	return g.set.Update(gtid)
}

func (g *gtidSet) String() string { return g.set.String() }
