// Package wire holds the go-plugin/gRPC glue shared by the SDK (plugin side)
// and the host (ficus side). The types it carries are plugins/api's; plugin
// authors see them through the aliases in plugins/sdk and never this
// package.
package wire

import "github.com/ficus-migrate/ficus/plugins/api"

// The plugin types, under the names the glue uses; see plugins/api.
type (
	Event         = api.Event
	Transformer   = api.Transformer
	Answer        = api.Answer
	Pair          = api.Pair
	Verdict       = api.Verdict
	Result        = api.Result
	Comparator    = api.Comparator
	Value         = api.Value
	RowPair       = api.RowPair
	Judgement     = api.Judgement
	RowComparator = api.RowComparator
)

// Verdicts; see plugins/api.
const (
	VerdictDiff      = api.VerdictDiff
	VerdictEqual     = api.VerdictEqual
	VerdictDifferent = api.VerdictDifferent
)
