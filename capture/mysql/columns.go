package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

const binaryCollation = 63

// errNoMetadata: without binlog_row_metadata=FULL a table map has no column
// names, and guessing them from today's definition would silently mislabel
// values of rows written before a schema change.
var errNoMetadata = errors.New("carries no column names: the binlog was written with binlog_row_metadata other than FULL " +
	"(set binlog_row_metadata=FULL on the server; events written before that cannot be decoded safely)")

// tableMapColumns describes the columns of a rows event from its table map
// alone. jsonCols names MariaDB JSON columns (LONGTEXT with a json_valid
// check), which the binlog cannot tell apart from other text; boolCols the
// TINYINT(1) columns published as booleans (the binlog has no display
// width).
func tableMapColumns(tm *replication.TableMapEvent, jsonCols, boolCols map[string]bool, opts valueOpts) ([]column, error) {
	names := tm.ColumnNameString()
	if len(names) != int(tm.ColumnCount) {
		return nil, errNoMetadata
	}
	unsigned := tm.UnsignedMap()
	coll := tm.CollationMap()
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	cols := make([]column, len(names))
	for i, name := range names {
		c := column{Name: name}
		typ, meta := tm.ColumnType[i], tm.ColumnMeta[i]
		length := int(meta)
		if typ == gomysql.MYSQL_TYPE_STRING && meta >= 256 {
			b0, b1 := byte(meta>>8), byte(meta&0xFF)
			if b0&0x30 != 0x30 {
				length = int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
				typ = b0 | 0x30
			} else {
				length = int(b1)
				typ = b0
			}
		}
		switch typ {
		case gomysql.MYSQL_TYPE_TINY, gomysql.MYSQL_TYPE_SHORT, gomysql.MYSQL_TYPE_INT24,
			gomysql.MYSQL_TYPE_LONG, gomysql.MYSQL_TYPE_LONGLONG:
			c.Kind = kInt
			if unsigned[i] {
				c.Kind = kUint
			}
			if typ == gomysql.MYSQL_TYPE_TINY && boolCols[name] {
				c.Kind = kBool
			}
		case gomysql.MYSQL_TYPE_NEWDECIMAL:
			c.Kind, c.Scale, c.Number = kDecimal, int(meta&0xFF), opts.decimalNumber
		case gomysql.MYSQL_TYPE_FLOAT:
			c.Kind = kFloat
		case gomysql.MYSQL_TYPE_DOUBLE:
			c.Kind = kDouble
		case gomysql.MYSQL_TYPE_BIT:
			c.Kind, c.Bits = kBit, int(meta>>8)*8+int(meta&0xFF)
		case gomysql.MYSQL_TYPE_YEAR:
			c.Kind = kYear
		case gomysql.MYSQL_TYPE_DATE, gomysql.MYSQL_TYPE_NEWDATE:
			c.Kind = kDate
		case gomysql.MYSQL_TYPE_TIME:
			c.Kind = kTime
		case gomysql.MYSQL_TYPE_TIME2:
			c.Kind, c.FSP = kTime, int(meta)
		case gomysql.MYSQL_TYPE_DATETIME:
			c.Kind = kDatetime
		case gomysql.MYSQL_TYPE_DATETIME2:
			c.Kind, c.FSP = kDatetime, int(meta)
		case gomysql.MYSQL_TYPE_TIMESTAMP:
			c.Kind = kTimestamp
		case gomysql.MYSQL_TYPE_TIMESTAMP2:
			c.Kind, c.FSP = kTimestamp, int(meta)
		case gomysql.MYSQL_TYPE_ENUM:
			c.Kind, c.Labels = kEnum, enums[i]
			if c.Labels == nil {
				return nil, fmt.Errorf("column %q: ENUM %w", name, errNoMetadata)
			}
		case gomysql.MYSQL_TYPE_SET:
			c.Kind, c.Labels = kSet, sets[i]
			if c.Labels == nil {
				return nil, fmt.Errorf("column %q: SET %w", name, errNoMetadata)
			}
		case gomysql.MYSQL_TYPE_STRING:
			c.Kind, c.Latin1 = kText, latin1Collations[int(coll[i])]
			if coll[i] == binaryCollation {
				c.Kind, c.PadLen = kBinary, length
			}
		case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
			c.Kind, c.Latin1 = kText, latin1Collations[int(coll[i])]
			if coll[i] == binaryCollation {
				c.Kind = kBinary
			}
		case gomysql.MYSQL_TYPE_BLOB:
			switch {
			case coll[i] == binaryCollation:
				c.Kind = kBinary
			case jsonCols[name]:
				c.Kind = kJSON
			default:
				c.Kind, c.Latin1 = kText, latin1Collations[int(coll[i])]
			}
		case gomysql.MYSQL_TYPE_JSON:
			c.Kind = kJSON
		case gomysql.MYSQL_TYPE_GEOMETRY:
			c.Kind = kGeometry
		default:
			return nil, fmt.Errorf("column %q: unsupported binlog column type %d", name, typ)
		}
		cols[i] = c
	}
	return cols, nil
}

// schemaColumns describes a table's columns from information_schema, for the
// snapshot (which reads today's definition, so that is correct there).
func schemaColumns(ctx context.Context, q querier, db, table string, jsonCols map[string]bool, opts valueOpts) ([]column, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COALESCE(NUMERIC_SCALE, 0),
		COALESCE(DATETIME_PRECISION, 0), COALESCE(CHARACTER_OCTET_LENGTH, 0), COALESCE(NUMERIC_PRECISION, 0)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, db, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s.%s: %w", db, table, err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		var typ, colType string
		var octets, precision int64
		if err := rows.Scan(&c.Name, &typ, &colType, &c.Scale, &c.FSP, &octets, &precision); err != nil {
			return nil, fmt.Errorf("read columns of %s.%s: %w", db, table, err)
		}
		unsigned := strings.Contains(strings.ToLower(colType), "unsigned")
		switch strings.ToLower(typ) {
		case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
			c.Kind = kInt
			if unsigned {
				c.Kind = kUint
			}
			if opts.tinyintBool && isTinyint1(colType) {
				c.Kind = kBool
			}
		case "decimal", "numeric":
			c.Kind, c.Number = kDecimal, opts.decimalNumber
		case "float":
			c.Kind = kFloat
		case "double", "real", "double precision":
			c.Kind = kDouble
		case "bit":
			c.Kind, c.Bits = kBit, int(precision)
		case "year":
			c.Kind = kYear
		case "date":
			c.Kind = kDate
		case "time":
			c.Kind = kTime
		case "datetime":
			c.Kind = kDatetime
		case "timestamp":
			c.Kind = kTimestamp
		case "enum":
			c.Kind = kEnum
		case "set":
			c.Kind = kSet
		case "json":
			c.Kind = kJSON
		case "binary":
			c.Kind, c.PadLen = kBinary, int(octets)
		case "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
			c.Kind = kBinary
		case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
			"geometrycollection", "geomcollection":
			c.Kind = kGeometry
		default: // char, varchar, *text and anything else readable as text
			c.Kind = kText
			if jsonCols[c.Name] {
				c.Kind = kJSON
			}
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s.%s: %w", db, table, err)
	}
	return cols, nil
}

// isTinyint1 reports whether a COLUMN_TYPE is TINYINT(1), which BOOLEAN is.
func isTinyint1(colType string) bool {
	return strings.HasPrefix(strings.ToLower(colType), "tinyint(1)")
}

// tinyint1Columns lists a table's TINYINT(1) columns, for the stream (the
// binlog has no display width). Like mariaJSONColumns it reads today's
// definition, refreshed after any DDL.
func tinyint1Columns(ctx context.Context, q querier, db, table string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND DATA_TYPE = 'tinyint'`, db, table)
	if err != nil {
		return nil, fmt.Errorf("read tinyint(1) columns of %s.%s: %w", db, table, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name, colType string
		if err := rows.Scan(&name, &colType); err != nil {
			return nil, fmt.Errorf("read tinyint(1) columns of %s.%s: %w", db, table, err)
		}
		if isTinyint1(colType) {
			out[name] = true
		}
	}
	return out, rows.Err()
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var jsonCheckRE = regexp.MustCompile("^json_valid\\(`((?:[^`]|``)+)`\\)$")

// mariaJSONColumns lists the JSON columns of a MariaDB table: JSON there is
// LONGTEXT plus an automatic CHECK (json_valid(col)).
func mariaJSONColumns(ctx context.Context, q querier, db, table string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, db, table)
	if err != nil {
		return nil, fmt.Errorf("read check constraints of %s.%s: %w", db, table, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var clause string
		if err := rows.Scan(&clause); err != nil {
			return nil, fmt.Errorf("read check constraints of %s.%s: %w", db, table, err)
		}
		if m := jsonCheckRE.FindStringSubmatch(strings.TrimSpace(clause)); m != nil {
			out[strings.ReplaceAll(m[1], "``", "`")] = true
		}
	}
	return out, rows.Err()
}

func primaryKey(ctx context.Context, q querier, db, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, db, table)
	if err != nil {
		return nil, fmt.Errorf("read primary key of %s.%s: %w", db, table, err)
	}
	defer rows.Close()
	var pk []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read primary key of %s.%s: %w", db, table, err)
		}
		pk = append(pk, c)
	}
	return pk, rows.Err()
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
