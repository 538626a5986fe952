package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ficus-migrate/ficus/capture/backfill"
)

// Backfiller is a capture source's backfill queue (capture/backfill.Manager).
type Backfiller interface {
	Enqueue(ctx context.Context, r backfill.Request) (backfill.Job, error)
	Status(ctx context.Context) (backfill.Status, error)
}

// maxBackfillBody bounds POST /api/capture/{source}/backfill's body.
const maxBackfillBody = 64 << 10

// backfill answers POST /api/capture/{source}/backfill: 202 and the queued
// job; 400 for a request the source refuses (unknown table, no primary key,
// a where condition that is not one condition or does not run); 404 for an
// unknown source; 409 on a process that does not stream the source (a hot
// standby: send it to the active one, GET /api/capture/{source} says which
// is active); 501 for a source without backfill.
func (d *Dashboard) backfill(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("source")
	if !d.hasSource(name) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no capture source " + strconv.Quote(name) + " in this process"})
		return
	}
	var b Backfiller
	if d.cfg.Backfill != nil {
		b = d.cfg.Backfill(name)
	}
	if b == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "source " + strconv.Quote(name) + " has no backfill"})
		return
	}
	var req backfill.Request
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBackfillBody+1))
	if err == nil && len(body) > maxBackfillBody {
		err = errors.New("body larger than 64 KiB")
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(&req)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"table\": \"schema.table\", \"where\": \"...\", \"chunk\": 10000}: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	job, err := b.Enqueue(ctx, req)
	var bad *backfill.BadRequestError
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, job)
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case errors.Is(err, backfill.ErrNotActive):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		d.log.Warn("queue backfill", "source", name, "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "queue backfill: " + err.Error()})
	}
}

func (d *Dashboard) hasSource(name string) bool {
	for _, s := range d.cfg.Sources {
		if s.Name == name {
			return true
		}
	}
	return false
}

// backfillStatus is the backfill section of GET /api/capture/{source}, nil
// for a source without backfill or when its state cannot be read.
func (d *Dashboard) backfillStatus(ctx context.Context, name string) *backfill.Status {
	if d.cfg.Backfill == nil {
		return nil
	}
	b := d.cfg.Backfill(name)
	if b == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := b.Status(ctx)
	if err != nil {
		d.log.Warn("read backfill state", "source", name, "err", err)
		return nil
	}
	return &st
}
