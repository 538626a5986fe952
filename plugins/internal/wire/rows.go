package wire

import (
	"context"
	"fmt"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ficus-migrate/ficus/plugins/proto"
)

// This file is the glue of the RowComparator service (compare_data[].plugin).

type rowComparatorPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl RowComparator
}

func (p *rowComparatorPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl != nil {
		pb.RegisterRowComparatorServer(s, &rowComparatorServer{impl: p.impl})
	}
	return nil
}

func (p *rowComparatorPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &RowComparatorClient{c: pb.NewRowComparatorClient(cc)}, nil
}

// RowComparatorClient is the host side of the RowComparator service.
type RowComparatorClient struct{ c pb.RowComparatorClient }

// CompareRows sends one batch. A batch without pairs is the start-up probe:
// it returns ErrUnimplemented when the plugin does not serve the service.
func (c *RowComparatorClient) CompareRows(ctx context.Context, comparison string, legacyColumns, newColumns []string,
	pairs []RowPair) ([]Judgement, error) {
	req := &pb.CompareRowsRequest{Comparison: comparison, LegacyColumns: legacyColumns, NewColumns: newColumns,
		Pairs: make([]*pb.RowPair, len(pairs))}
	msgs := make([]pb.RowPair, len(pairs))
	for i, p := range pairs {
		msgs[i] = pb.RowPair{Key: p.Key, Legacy: toPBValues(p.Legacy), New: toPBValues(p.New)}
		req.Pairs[i] = &msgs[i]
	}
	resp, err := c.c.CompareRows(ctx, req)
	if err != nil {
		return nil, clientErr(err)
	}
	if len(resp.Results) != len(pairs) {
		return nil, &PluginError{Msg: fmt.Sprintf("compare rows returned %d results for %d pairs", len(resp.Results), len(pairs))}
	}
	out := make([]Judgement, len(pairs))
	for i, r := range resp.Results {
		if r.Equal {
			out[i].Equal = true
			continue
		}
		out[i].Reason = r.Reason
		if len(r.Columns) == 0 {
			continue // nil keeps the host's own columns
		}
		out[i].Columns = make([]int, len(r.Columns))
		for j, col := range r.Columns {
			if int(col) >= len(legacyColumns) {
				return nil, &PluginError{Msg: fmt.Sprintf("compare rows: result for key %s names column %d of %d",
					pairs[i].Key, col, len(legacyColumns))}
			}
			out[i].Columns[j] = int(col)
		}
	}
	return out, nil
}

func toPBValues(vs []Value) []*pb.Value {
	msgs := make([]pb.Value, len(vs))
	out := make([]*pb.Value, len(vs))
	for i, v := range vs {
		msgs[i] = pb.Value{Null: v.Null, Text: v.Text}
		out[i] = &msgs[i]
	}
	return out
}

func fromPBValues(vs []*pb.Value) []Value {
	out := make([]Value, len(vs))
	for i, v := range vs {
		if v != nil {
			out[i] = Value{Null: v.Null, Text: v.Text}
		}
	}
	return out
}

type rowComparatorServer struct {
	pb.UnimplementedRowComparatorServer
	impl RowComparator
}

func (s *rowComparatorServer) CompareRows(ctx context.Context, req *pb.CompareRowsRequest) (*pb.CompareRowsResponse, error) {
	if len(req.Pairs) == 0 {
		// The start-up probe: the service is here. The author's code never
		// sees an empty batch.
		return &pb.CompareRowsResponse{}, nil
	}
	pairs := make([]RowPair, len(req.Pairs))
	for i, p := range req.Pairs {
		pairs[i] = RowPair{Key: p.Key, Legacy: fromPBValues(p.Legacy), New: fromPBValues(p.New)}
	}
	res, err := s.impl.CompareRows(ctx, req.Comparison, req.LegacyColumns, req.NewColumns, pairs)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	if len(res) != len(pairs) {
		return nil, status.Errorf(codes.Unknown, "row comparator returned %d judgements for %d pairs", len(res), len(pairs))
	}
	resp := &pb.CompareRowsResponse{Results: make([]*pb.RowResult, len(res))}
	msgs := make([]pb.RowResult, len(res))
	for i, j := range res {
		if j.Equal {
			msgs[i].Equal = true
		} else {
			msgs[i].Reason = j.Reason
			for _, col := range j.Columns {
				if col < 0 || col >= len(req.LegacyColumns) {
					return nil, status.Errorf(codes.Unknown, "row comparator: judgement for key %s names column %d of %d",
						pairs[i].Key, col, len(req.LegacyColumns))
				}
				msgs[i].Columns = append(msgs[i].Columns, uint32(col))
			}
		}
		resp.Results[i] = &msgs[i]
	}
	return resp, nil
}
