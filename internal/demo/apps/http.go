package apps

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// Both services must answer the same request with the same bytes when they
// agree, errors included, or the shadow comparison would report noise that
// is not the bug; so the error texts live here, once.
const (
	errOrderNotFound    = "order not found"
	errCustomerNotFound = "customer not found"
	errCustomerRequired = "customer_id is required"
	errBadID            = "id must be a positive integer"
)

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

// pathID reads the {id} path value as a positive integer.
func pathID(r *http.Request) (int64, bool) {
	return positive(r.PathValue("id"))
}

func positive(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

// readJSON decodes a small request body strictly.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// orderList is the answer of GET /api/orders?customer_id=N: the customer's
// latest orders, newest first.
type orderList struct {
	Orders []Order `json:"orders"`
}

// listLimit is how many orders GET /api/orders returns.
const listLimit = 10

// mirroredOrder is what the shop forwards to the new service for every order
// it writes (its dual write): the order as the shop took it, with the shop's
// id, so that both databases hold the same orders under the same keys. The
// new service prices it itself.
type mirroredOrder struct {
	LegacyID   int64  `json:"legacy_id"`
	CustomerID int64  `json:"customer_id"`
	Items      []Item `json:"items"`
	Coupon     string `json:"coupon"`
	Status     string `json:"status"`
}
