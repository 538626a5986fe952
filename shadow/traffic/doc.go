// Package traffic is the half of shadow that compares HTTP answers: a
// sampled request the proxy served from one side is sent again to the other
// side, and the two answers are compared. It holds no code of its own; its
// packages are, in the order a mirrored request meets them:
//
//   - mirror: the proxy hook and its bounded worker pool (start reading
//     here, at Mirror.RoundTrip and Mirror.Run);
//   - diff: the comparison of two answers (status, headers, body by
//     content type);
//   - noise: what legacy-vs-legacy differences teach, so that only real
//     legacy-vs-new differences count;
//   - record: the mismatches written to the FICUS_SHADOW stream.
//
// Beside shadowing, recording and replay compare a new build with recorded
// legacy answers, before it runs beside legacy:
//
//   - recording: sampled exchanges of a route (request, the answer the
//     client got, the side that served it) written to FICUS_TRAFFIC;
//   - replay: those exchanges sent again to a new build, compared by diff
//     and noise (`ficus replay`).
//
// The other half, package data, compares tables. Package report reads what
// both halves record; package redact decides what is secret in all of it.
package traffic
