package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"testing"
	"time"
)

// flatJSON must write exactly what slog's JSON handler writes.
func sameAsSlog(t *testing.T, level slog.Level, msg string, attrs ...slog.Attr) {
	t.Helper()
	when := time.Date(2026, 11, 24, 9, 40, 36, 123456789, time.FixedZone("x", 3600))
	var fast, want bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	for h, out := range map[slog.Handler]*bytes.Buffer{newFlatJSON(&fast, opts): &fast, slog.NewJSONHandler(&want, opts): &want} {
		r := slog.NewRecord(when, level, msg, 0)
		r.AddAttrs(attrs...)
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		_ = out
	}
	if fast.String() != want.String() {
		t.Fatalf("flatJSON wrote\n%s\nslog writes\n%s", fast.String(), want.String())
	}
}

func TestFlatJSONIsSlogJSON(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	tests := []struct {
		name  string
		attrs []slog.Attr
	}{
		{"http request", []slog.Attr{
			slog.String("direction", "inbound"), slog.String("peer_id", "spiffe://demo.local/ns/shop/sa/orders"),
			slog.String("method", "GET"), slog.String("path", "/a?b=<c>&d"), slog.Int("status", 200),
			slog.Float64("duration_ms", 0.321), slog.Int64("request_bytes", -5), slog.Uint64("n", math.MaxUint64),
		}},
		{"every byte", []slog.Attr{slog.String("s", string(all))}},
		{"unicode", []slog.Attr{slog.String("s", "é 世界 \u2028\u2029 \U0001F600 \xff\xfe x\xc3")}},
		{"keys escaped", []slog.Attr{slog.String("a\"b\n", "v")}},
		{"floats", []slog.Attr{
			slog.Float64("zero", 0), slog.Float64("neg0", math.Copysign(0, -1)), slog.Float64("tiny", 1e-7),
			slog.Float64("small", 0.000001), slog.Float64("big", 1e21), slog.Float64("bigger", 1.5e300),
			slog.Float64("third", 1.0/3), slog.Float64("neg", -2.5e-9),
		}},
		{"other kinds", []slog.Attr{
			slog.Bool("t", true), slog.Bool("f", false), slog.Duration("d", 1500*time.Millisecond),
			slog.Time("at", time.Date(2000, 1, 2, 3, 4, 5, 6, time.UTC)),
		}},
		{"left to slog", []slog.Attr{
			slog.Group("g", slog.Int("a", 1)), slog.Any("m", map[string]int{"x": 1}), slog.Float64("nan", math.NaN()),
			slog.Time("far", time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC)), slog.String("", "no key"),
		}},
		{"no attributes", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sameAsSlog(t, slog.LevelInfo, "http request", tc.attrs...)
			for _, a := range tc.attrs { // each alone, so a fallback for one does not hide the others
				sameAsSlog(t, slog.LevelWarn+1, "m\x00sg", a)
			}
		})
	}
}

func TestFlatJSONLevelAndWith(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "json", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	log.With("k", "v").Warn("kept", "n", 1)
	got := buf.String()
	if bytes.Contains(buf.Bytes(), []byte("dropped")) || !bytes.Contains(buf.Bytes(), []byte(`"msg":"kept","k":"v","n":1}`)) {
		t.Fatalf("log %q: want only the warning, with its With attribute", got)
	}
}

func FuzzFlatJSON(f *testing.F) {
	f.Add("GET /a b", 0.25, int64(-1))
	f.Add("\xff\u2028\"\\", 1e-7, int64(0))
	f.Fuzz(func(t *testing.T, s string, x float64, n int64) {
		sameAsSlog(t, slog.LevelInfo, s, slog.String(s, s), slog.Float64("x", x), slog.Int64("n", n))
	})
}

// logLine skips slog.Record; its lines must still be slog's, time aside.
func TestLogLineIsSlogJSON(t *testing.T) {
	attrs := []slog.Attr{slog.String("path", "/a\"b"), slog.Int("status", 403), slog.Float64("duration_ms", 1.25)}
	var fast, want bytes.Buffer
	opts := &slog.HandlerOptions{}
	LogLine(slog.New(newFlatJSON(&fast, opts)), slog.LevelWarn, "http request", attrs)
	LogLine(slog.New(slog.NewJSONHandler(&want, opts)), slog.LevelWarn, "http request", attrs)
	LogLine(slog.New(newFlatJSON(&fast, opts)), slog.LevelDebug, "below the level", attrs)
	untimed := func(b []byte) string {
		_, rest, ok := bytes.Cut(b, []byte(`","level"`))
		if !ok {
			t.Fatalf("no time in %q", b)
		}
		return string(rest)
	}
	if untimed(fast.Bytes()) != untimed(want.Bytes()) {
		t.Fatalf("logLine wrote\n%s\nslog writes\n%s", fast.String(), want.String())
	}
}
