package wire

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ficus-migrate/ficus/plugins/proto"
)

// ProtocolVersion is the version of plugins/proto/plugin.proto this build
// speaks. Raise it on an incompatible change.
const ProtocolVersion = 1

// Plugin kinds, the keys of the go-plugin plugin set.
const (
	KindTransformer   = "transformer"
	KindComparator    = "comparator"
	KindRowComparator = "row_comparator"
)

// Handshake is the go-plugin handshake. The cookie only guards against a
// user running a plugin by hand; it is not a security measure.
func Handshake(version uint) plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  version,
		MagicCookieKey:   "FICUS_PLUGIN",
		MagicCookieValue: "6f1c2a9e-ficus-plugin",
	}
}

// Impls are what a plugin implements; nil for what it does not.
type Impls struct {
	Transformer   Transformer
	Comparator    Comparator
	RowComparator RowComparator
}

// Set is the go-plugin plugin set. On the plugin side impls are the
// author's implementations (only those are registered, so the others answer
// UNIMPLEMENTED); on the host side impls is empty and only GRPCClient is
// used.
func Set(impls Impls) plugin.PluginSet {
	return plugin.PluginSet{
		KindTransformer:   &transformerPlugin{impl: impls.Transformer},
		KindComparator:    &comparatorPlugin{impl: impls.Comparator},
		KindRowComparator: &rowComparatorPlugin{impl: impls.RowComparator},
	}
}

type transformerPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Transformer
}

func (p *transformerPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl != nil {
		pb.RegisterTransformerServer(s, &transformerServer{impl: p.impl})
	}
	return nil
}

func (p *transformerPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &TransformerClient{c: pb.NewTransformerClient(cc)}, nil
}

type comparatorPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Comparator
}

func (p *comparatorPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl != nil {
		pb.RegisterComparatorServer(s, &comparatorServer{impl: p.impl})
	}
	return nil
}

func (p *comparatorPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &ComparatorClient{c: pb.NewComparatorClient(cc)}, nil
}

// ErrUnimplemented is returned by a client whose plugin does not provide the
// service.
var ErrUnimplemented = errors.New("plugin does not implement this interface")

// PluginError is an error the plugin's own code returned (as opposed to a
// crash, a timeout or a broken connection).
type PluginError struct{ Msg string }

func (e *PluginError) Error() string { return "plugin error: " + e.Msg }

func clientErr(err error) error {
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unimplemented:
			return ErrUnimplemented
		case codes.Unknown:
			return &PluginError{Msg: s.Message()}
		}
	}
	return err
}

// TransformerClient is the host side of the Transformer service.
type TransformerClient struct {
	c pb.TransformerClient
	// reqs recycles request messages: building one per batch was a good
	// part of the host's garbage.
	reqs sync.Pool
}

type transformReq struct {
	req  pb.TransformRequest
	evs  []pb.Event
	ptrs []*pb.Event
}

// Transform sends one batch.
func (t *TransformerClient) Transform(ctx context.Context, source string, batch []Event) ([]Event, error) {
	r, _ := t.reqs.Get().(*transformReq)
	if r == nil {
		r = &transformReq{}
	}
	defer func() {
		clear(r.evs) // drop the references to the events' data
		t.reqs.Put(r)
	}()
	if cap(r.evs) < len(batch) {
		r.evs, r.ptrs = make([]pb.Event, len(batch)), make([]*pb.Event, len(batch))
	}
	r.evs, r.ptrs = r.evs[:len(batch)], r.ptrs[:len(batch)]
	for i := range batch {
		e := &r.evs[i]
		e.Id, e.Subject, e.Type, e.TimeUnixNano, e.Data = batch[i].ID, batch[i].Subject, batch[i].Type, batch[i].Time.UnixNano(), batch[i].Data
		r.ptrs[i] = e
	}
	r.req.Source, r.req.Events = source, r.ptrs
	resp, err := t.c.Transform(ctx, &r.req)
	if err != nil {
		return nil, clientErr(err)
	}
	if resp.Unchanged {
		return batch, nil
	}
	out := make([]Event, 0, len(resp.Events))
	for _, e := range resp.Events {
		if e.SameAs == 0 {
			out = append(out, Event{ID: e.Id, Subject: e.Subject, Type: e.Type, Time: time.Unix(0, e.TimeUnixNano), Data: e.Data})
			continue
		}
		if int(e.SameAs) > len(batch) {
			return nil, &PluginError{Msg: fmt.Sprintf("output refers to input event %d of %d", e.SameAs, len(batch))}
		}
		out = append(out, batch[e.SameAs-1])
	}
	return out, nil
}

func fromPBEvents(in []*pb.Event, out []Event) []Event {
	for _, e := range in {
		out = append(out, Event{ID: e.Id, Subject: e.Subject, Type: e.Type, Time: time.Unix(0, e.TimeUnixNano), Data: e.Data})
	}
	return out
}

type transformerServer struct {
	pb.UnimplementedTransformerServer
	impl Transformer
}

func (s *transformerServer) Transform(ctx context.Context, req *pb.TransformRequest) (*pb.TransformResponse, error) {
	// The implementation may return (and change) the slice it gets; the
	// request's messages still say what came in, to recognise untouched
	// events.
	orig := req.Events
	out, err := s.impl.Transform(ctx, req.Source, fromPBEvents(req.Events, make([]Event, 0, len(req.Events))))
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	if len(out) == len(orig) {
		all := true
		for i := range out {
			if !same(out[i], orig[i]) {
				all = false
				break
			}
		}
		if all {
			return &pb.TransformResponse{Unchanged: true}, nil
		}
	}
	resp := &pb.TransformResponse{Events: make([]*pb.Event, len(out))}
	evs := make([]pb.Event, len(out))
	for i := range out {
		if i < len(orig) && same(out[i], orig[i]) {
			evs[i] = pb.Event{SameAs: uint32(i + 1)}
		} else {
			evs[i] = pb.Event{Id: out[i].ID, Subject: out[i].Subject, Type: out[i].Type,
				TimeUnixNano: out[i].Time.UnixNano(), Data: out[i].Data}
		}
		resp.Events[i] = &evs[i]
	}
	return resp, nil
}

// same reports whether a is b untouched: same fields and the very same
// Data bytes (a re-encoded body is sent in full even when equal).
func same(a Event, b *pb.Event) bool {
	return a.ID == b.Id && a.Subject == b.Subject && a.Type == b.Type && a.Time.UnixNano() == b.TimeUnixNano &&
		len(a.Data) == len(b.Data) && (len(a.Data) == 0 || &a.Data[0] == &b.Data[0])
}

// ComparatorClient is the host side of the Comparator service.
type ComparatorClient struct{ c pb.ComparatorClient }

// Compare sends one batch of pairs.
func (c *ComparatorClient) Compare(ctx context.Context, pairs []Pair) ([]Result, error) {
	req := &pb.CompareRequest{Pairs: make([]*pb.Pair, len(pairs))}
	for i := range pairs {
		req.Pairs[i] = toPBPair(pairs[i])
	}
	resp, err := c.c.Compare(ctx, req)
	if err != nil {
		return nil, clientErr(err)
	}
	if len(resp.Results) != len(pairs) {
		return nil, &PluginError{Msg: fmt.Sprintf("compare returned %d results for %d pairs", len(resp.Results), len(pairs))}
	}
	out := make([]Result, len(pairs))
	for i, r := range resp.Results {
		out[i] = Result{Pair: pairs[i], Verdict: Verdict(r.Verdict), Reason: r.Reason}
		if r.Pair != nil {
			out[i].Pair = fromPBPair(r.Pair)
		}
	}
	return out, nil
}

type comparatorServer struct {
	pb.UnimplementedComparatorServer
	impl Comparator
}

func (s *comparatorServer) Compare(ctx context.Context, req *pb.CompareRequest) (*pb.CompareResponse, error) {
	pairs := make([]Pair, len(req.Pairs))
	for i, p := range req.Pairs {
		pairs[i] = fromPBPair(p)
	}
	res, err := s.impl.Compare(ctx, pairs)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	if len(res) != len(pairs) {
		return nil, status.Errorf(codes.Unknown, "comparator returned %d results for %d pairs", len(res), len(pairs))
	}
	resp := &pb.CompareResponse{Results: make([]*pb.CompareResult, len(res))}
	for i, r := range res {
		resp.Results[i] = &pb.CompareResult{Pair: toPBPair(r.Pair), Verdict: pb.Verdict(r.Verdict), Reason: r.Reason}
	}
	return resp, nil
}

func toPBPair(p Pair) *pb.Pair {
	return &pb.Pair{Route: p.Route, Method: p.Method, Path: p.Path, Legacy: toPBAnswer(p.Legacy), New: toPBAnswer(p.New)}
}

func toPBAnswer(a Answer) *pb.Answer {
	out := &pb.Answer{Status: int32(a.Status), Body: a.Body}
	for k, v := range a.Header {
		out.Headers = append(out.Headers, &pb.Header{Name: k, Values: v})
	}
	return out
}

func fromPBPair(p *pb.Pair) Pair {
	return Pair{Route: p.Route, Method: p.Method, Path: p.Path, Legacy: fromPBAnswer(p.Legacy), New: fromPBAnswer(p.New)}
}

func fromPBAnswer(a *pb.Answer) Answer {
	if a == nil {
		return Answer{}
	}
	out := Answer{Status: int(a.Status), Body: a.Body}
	if len(a.Headers) > 0 {
		out.Header = make(http.Header, len(a.Headers))
		for _, h := range a.Headers {
			out.Header[h.Name] = h.Values
		}
	}
	return out
}

// Transport settings of both ends. A batch of large rows easily exceeds
// gRPC's default 4 MiB message limit, and the default 64 KiB flow-control
// window costs round trips on every batch of ordinary ones.
const (
	maxMessage = 256 << 20
	window     = 8 << 20
)

// ServerOptions are the plugin side's gRPC options.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage),
		grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window),
	}
}

// DialOptions are the host side's gRPC options.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)),
		grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window),
	}
}

// NewServer is the go-plugin GRPCServer factory with ServerOptions.
func NewServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, ServerOptions()...)...)
}
