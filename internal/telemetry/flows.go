package telemetry

import (
	"log/slog"

	"github.com/hopseal/hopseal/internal/proxy"
)

// FlowLog writes one structured line per connection when it ends.
type FlowLog struct{ Log *slog.Logger }

func (FlowLog) FlowStarted(proxy.Flow) {}

func (l FlowLog) FlowEnded(f proxy.Flow) {
	level := slog.LevelInfo
	if f.Decision != proxy.Allow {
		level = slog.LevelWarn
	}
	var buf [18]slog.Attr
	attrs := append(buf[:0],
		slog.String("direction", string(f.Direction)),
		slog.String("listener", f.Listener),
		slog.String("source", f.Source),
		slog.String("destination", f.Destination),
		slog.String("peer_id", idString(f.Peer)),
		slog.String("security", string(f.Security)),
		slog.String("protocol", f.Protocol),
		slog.String("decision", string(f.Decision)),
		slog.String("tls_version", f.Peer.TLS.Version),
		slog.String("cipher_suite", f.Peer.TLS.CipherSuite),
		slog.String("key_exchange", f.Peer.TLS.Group),
		slog.Int64("bytes_up", f.BytesUp),
		slog.Int64("bytes_down", f.BytesDown),
		slog.Float64("duration_ms", float64(f.Duration.Microseconds())/1000),
	)
	if f.Rule != "" {
		attrs = append(attrs, slog.String("rule", f.Rule))
	}
	if f.SNI != "" {
		attrs = append(attrs, slog.String("sni", f.SNI))
	}
	if f.Handshake > 0 {
		attrs = append(attrs, slog.Float64("handshake_ms", float64(f.Handshake.Microseconds())/1000))
	}
	if f.Reason != "" {
		attrs = append(attrs, slog.String("reason", f.Reason))
	}
	LogLine(l.Log, level, "connection", attrs)
}

func idString(p proxy.Peer) string {
	if p.ID.IsZero() {
		return ""
	}
	return p.ID.String()
}

// Observers fans flow events out to several observers.
type Observers []proxy.Observer

func (o Observers) FlowStarted(f proxy.Flow) {
	for _, x := range o {
		x.FlowStarted(f)
	}
}

func (o Observers) FlowEnded(f proxy.Flow) {
	for _, x := range o {
		x.FlowEnded(f)
	}
}
