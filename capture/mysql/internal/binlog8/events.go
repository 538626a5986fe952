// Package binlog8 encodes MySQL 8.0 binary log events byte for byte, for the
// capture's test fixtures: no MySQL server can run where the tests run, so
// the events a MySQL 8.0 source sends are built from the format's
// specification (MySQL source documentation, libbinlogevents) instead.
//
// Only what a row-based, GTID-enabled 8.0 binlog contains is covered:
// FORMAT_DESCRIPTION (v4, CRC32), PREVIOUS_GTIDS, GTID (untagged, with the
// 8.0 commit timestamps, transaction length and server versions), QUERY,
// TABLE_MAP with optional metadata, WRITE/UPDATE/DELETE_ROWS v2, XID, ROTATE.
package binlog8

import (
	"encoding/binary"
	"hash/crc32"
)

// Event type codes (binlog_event.h, Log_event_type).
const (
	QueryEvent             = 2
	RotateEvent            = 4
	FormatDescriptionEvent = 15
	XIDEvent               = 16
	TableMapEvent          = 19
	WriteRowsEventV2       = 30
	UpdateRowsEventV2      = 31
	DeleteRowsEventV2      = 32
	GTIDEvent              = 33
	PreviousGTIDsEvent     = 35
)

// Header flags.
const (
	FlagBinlogInUse = 0x0001 // LOG_EVENT_BINLOG_IN_USE_F, on the FDE of the open file
	FlagArtificial  = 0x0020 // LOG_EVENT_ARTIFICIAL_F
)

// HeaderLen is the v4 common header length.
const HeaderLen = 19

const checksumLen = 4

// postHeaderLens are the 41 post-header lengths an 8.0.26+ server writes in
// its FORMAT_DESCRIPTION_EVENT, indexed by event type - 1. Entry 40
// (TRANSACTION_PAYLOAD_EVENT) really is 40: the server writes the event
// type code there, not TRANSACTION_PAYLOAD_HEADER_LEN.
var postHeaderLens = [41]byte{
	0, 13, 0, 8, 0, 0, 0, 0, 4, 0, // START_V3 .. EXEC_LOAD
	4, 0, 0, 0, 57 + 41, 0, 4, 26, 8, 0, // DELETE_FILE .. PRE_GA_WRITE_ROWS
	0, 0, 8, 8, 8, 2, 0, 0, 0, 10, // PRE_GA_UPDATE_ROWS .. WRITE_ROWS_V2
	10, 10, 42, 42, 0, 18, 52, 0, 10, 40, // UPDATE_ROWS_V2 .. TRANSACTION_PAYLOAD
	0, // HEARTBEAT_LOG_EVENT_V2
}

// Event is one event before it is placed in a file.
type Event struct {
	Type      byte
	Timestamp uint32
	ServerID  uint32
	Flags     uint16
	Body      []byte // without header and checksum
}

// Size is the event's length in the file, header and checksum included.
func (e Event) Size() uint32 { return uint32(HeaderLen + len(e.Body) + checksumLen) }

// File accumulates a binlog file: the magic number, then events.
type File struct {
	b []byte
}

// NewFile starts a binlog file with its 4-byte magic number.
func NewFile() *File { return &File{b: []byte{0xfe, 'b', 'i', 'n'}} }

// Pos is the offset the next event will start at.
func (f *File) Pos() uint32 { return uint32(len(f.b)) }

// Bytes is the file content.
func (f *File) Bytes() []byte { return f.b }

// Append writes e with its header (next_position = end of e) and CRC32.
func (f *File) Append(e Event) (start, end uint32) {
	start = f.Pos()
	end = start + e.Size()
	f.b = append(f.b, Encode(e, end)...)
	return start, end
}

// Encode returns e with its common header and CRC32 checksum; logPos is the
// header's next_position field.
func Encode(e Event, logPos uint32) []byte {
	b := make([]byte, HeaderLen, int(e.Size()))
	binary.LittleEndian.PutUint32(b[0:], e.Timestamp)
	b[4] = e.Type
	binary.LittleEndian.PutUint32(b[5:], e.ServerID)
	binary.LittleEndian.PutUint32(b[9:], e.Size())
	binary.LittleEndian.PutUint32(b[13:], logPos)
	binary.LittleEndian.PutUint16(b[17:], e.Flags)
	b = append(b, e.Body...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// FormatDescription is the body of a v4 FORMAT_DESCRIPTION_EVENT announcing
// CRC32 checksums.
func FormatDescription(serverVersion string, created uint32) []byte {
	b := binary.LittleEndian.AppendUint16(nil, 4)
	v := make([]byte, 50)
	copy(v, serverVersion)
	b = append(b, v...)
	b = binary.LittleEndian.AppendUint32(b, created)
	b = append(b, HeaderLen)
	b = append(b, postHeaderLens[:]...)
	return append(b, 1) // BINLOG_CHECKSUM_ALG_CRC32
}

// Interval is a GTID range [Start, End] (inclusive, as in "uuid:1-5").
type Interval struct{ Start, End int64 }

// SIDSet is one source UUID's intervals.
type SIDSet struct {
	SID       [16]byte
	Intervals []Interval
}

// PreviousGTIDs is the body of a PREVIOUS_GTIDS_LOG_EVENT in the untagged
// (8.0) encoding: intervals are stored end-exclusive.
func PreviousGTIDs(sets []SIDSet) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(sets)))
	for _, s := range sets {
		b = append(b, s.SID[:]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(s.Intervals)))
		for _, iv := range s.Intervals {
			b = binary.LittleEndian.AppendUint64(b, uint64(iv.Start))
			b = binary.LittleEndian.AppendUint64(b, uint64(iv.End+1))
		}
	}
	return b
}

// GTID describes a GTID_LOG_EVENT as 8.0 writes it.
type GTID struct {
	MayHaveSBR      bool // FLAG_MAY_HAVE_SBR: set for DDL and statement-based transactions
	SID             [16]byte
	GNO             int64
	LastCommitted   int64
	SequenceNumber  int64
	ImmediateCommit uint64 // microseconds since the epoch
	OriginalCommit  uint64 // differs from ImmediateCommit on a replica
	// TransactionLength is the transaction's size in bytes, this event included.
	TransactionLength uint64
	ImmediateServer   uint32 // e.g. 80036
	OriginalServer    uint32
}

// Body encodes g.
func (g GTID) Body() []byte {
	var b []byte
	if g.MayHaveSBR {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = append(b, g.SID[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(g.GNO))
	b = append(b, 2) // LOGICAL_TIMESTAMP_TYPECODE
	b = binary.LittleEndian.AppendUint64(b, uint64(g.LastCommitted))
	b = binary.LittleEndian.AppendUint64(b, uint64(g.SequenceNumber))
	// The top bit of the 7-byte immediate timestamp says an original one follows.
	if g.OriginalCommit != g.ImmediateCommit {
		b = appendUint56(b, g.ImmediateCommit|1<<55)
		b = appendUint56(b, g.OriginalCommit)
	} else {
		b = appendUint56(b, g.ImmediateCommit)
	}
	b = AppendPackedInt(b, g.TransactionLength)
	if g.OriginalServer != g.ImmediateServer {
		b = binary.LittleEndian.AppendUint32(b, g.ImmediateServer|1<<31)
		b = binary.LittleEndian.AppendUint32(b, g.OriginalServer)
	} else {
		b = binary.LittleEndian.AppendUint32(b, g.ImmediateServer)
	}
	return b
}

func appendUint56(b []byte, v uint64) []byte {
	for i := range 7 {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// Query describes a QUERY_EVENT.
type Query struct {
	ThreadID uint32
	ExecTime uint32
	Schema   string
	SQL      string
	DDL      bool // adds the status variables 8.0 writes for an atomic DDL
	XID      uint64
}

// defaultSQLMode is 8.0's default: ONLY_FULL_GROUP_BY, STRICT_TRANS_TABLES,
// NO_ZERO_IN_DATE, NO_ZERO_DATE, ERROR_FOR_DIVISION_BY_ZERO, NO_ENGINE_SUBSTITUTION.
const defaultSQLMode = 1<<5 | 1<<21 | 1<<23 | 1<<24 | 1<<26 | 1<<30

// Body encodes q with the status variables of an 8.0 session in utf8mb4.
func (q Query) Body() []byte {
	var sv []byte
	sv = append(sv, 0) // Q_FLAGS2_CODE
	sv = binary.LittleEndian.AppendUint32(sv, 0)
	sv = append(sv, 1) // Q_SQL_MODE_CODE
	sv = binary.LittleEndian.AppendUint64(sv, defaultSQLMode)
	sv = append(sv, 6, 3, 's', 't', 'd') // Q_CATALOG_NZ_CODE
	sv = append(sv, 4)                   // Q_CHARSET_CODE: client, connection, server
	for range 3 {
		sv = binary.LittleEndian.AppendUint16(sv, 255) // utf8mb4_0900_ai_ci
	}
	if q.DDL {
		sv = append(sv, 12, 1) // Q_UPDATED_DB_NAMES: one database
		sv = append(sv, q.Schema...)
		sv = append(sv, 0)
		sv = append(sv, 17) // Q_DDL_LOGGED_WITH_XID
		sv = binary.LittleEndian.AppendUint64(sv, q.XID)
		sv = append(sv, 18) // Q_DEFAULT_COLLATION_FOR_UTF8MB4
		sv = binary.LittleEndian.AppendUint16(sv, 255)
		sv = append(sv, 19, 0) // Q_SQL_REQUIRE_PRIMARY_KEY
		sv = append(sv, 20, 0) // Q_DEFAULT_TABLE_ENCRYPTION
	}
	b := binary.LittleEndian.AppendUint32(nil, q.ThreadID)
	b = binary.LittleEndian.AppendUint32(b, q.ExecTime)
	b = append(b, byte(len(q.Schema)))
	b = binary.LittleEndian.AppendUint16(b, 0) // error code
	b = binary.LittleEndian.AppendUint16(b, uint16(len(sv)))
	b = append(b, sv...)
	b = append(b, q.Schema...)
	b = append(b, 0)
	return append(b, q.SQL...)
}

// XID is the body of an XID_EVENT.
func XID(xid uint64) []byte { return binary.LittleEndian.AppendUint64(nil, xid) }

// Rotate is the body of a ROTATE_EVENT.
func Rotate(pos uint64, next string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, pos), next...)
}

// AppendPackedInt appends a length-encoded integer (net_store_length).
func AppendPackedInt(b []byte, v uint64) []byte {
	switch {
	case v < 251:
		return append(b, byte(v))
	case v < 1<<16:
		return binary.LittleEndian.AppendUint16(append(b, 0xfc), uint16(v))
	case v < 1<<24:
		return append(b, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xfe), v)
}

// appendPackedString appends a length-encoded string.
func appendPackedString(b []byte, s string) []byte {
	return append(AppendPackedInt(b, uint64(len(s))), s...)
}
