package main

import (
	"context"
	"time"

	"github.com/ficus-migrate/ficus/capture/standby"
	"github.com/ficus-migrate/ficus/internal/admin/dashboard"
	"github.com/ficus-migrate/ficus/shadow/report"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

// mountDashboard serves the live page at / on the admin listener, for the
// parts this process runs.
func mountDashboard(rt *proc, p parts) {
	cfg := dashboard.Config{Gatherer: rt.reg, Logger: rt.log}
	if p.capture {
		for _, s := range rt.cfg.Capture.Sources {
			cfg.Sources = append(cfg.Sources, dashboard.Source{Name: s.Name, Type: string(s.Type)})
		}
		if rt.capture != nil {
			cfg.Standby = func(source string) standby.State {
				if sb := rt.capture[source]; sb != nil {
					return sb.State()
				}
				return standby.State{}
			}
		}
		if rt.backfill != nil {
			cfg.Backfill = func(source string) dashboard.Backfiller {
				if m := rt.backfill[source]; m != nil {
					return m
				}
				return nil
			}
		}
		cfg.Failure = func(source string) error {
			if err, ok := rt.captureFailed.Load(source); ok {
				return err.(error)
			}
			return nil
		}
	}
	for _, c := range rt.cfg.CompareData {
		cfg.Data = append(cfg.Data, c.Name)
	}
	shadow := p.proxy && rt.cfg.Proxy.Enabled()
	if shadow || len(cfg.Data) > 0 {
		js := rt.bus.JS
		cfg.Report = func(ctx context.Context, since time.Time) (report.Report, error) {
			rep := report.Report{Routes: []report.RouteReport{}}
			if shadow {
				recs, err := report.Read(ctx, js, "", since)
				if err != nil {
					return report.Report{}, err
				}
				tallies, err := report.ReadTallies(ctx, js, "", since)
				if err != nil {
					return report.Report{}, err
				}
				rep = report.BuildTallied(recs, tallies, since, time.Now().UTC())
			}
			if len(cfg.Data) > 0 {
				findings, err := report.ReadData(ctx, js, since)
				if err != nil {
					return report.Report{}, err
				}
				rep.Data = report.BuildData(findings)
			}
			return rep, nil
		}
	}
	if p.proxy && rt.cfg.Proxy.Enabled() && rt.cfg.Proxy.RecordEnabled() {
		var routes []string
		for _, r := range rt.cfg.Proxy.Routes {
			if r.Record.Enabled {
				routes = append(routes, r.Name)
			}
		}
		js := rt.bus.JS
		cfg.Recordings = func(ctx context.Context) ([]recording.RouteRecordings, error) {
			return recording.Recordings(ctx, js, routes)
		}
	}
	dashboard.New(cfg).Mount(rt.admin)
}
