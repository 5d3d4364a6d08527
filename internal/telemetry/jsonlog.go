package telemetry

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// flatJSON is the JSON handler of services. A proxy logs a line per
// connection and per HTTP request, and slog's JSON handler spent about as
// much CPU on such a line as the proxy spent on the request itself (floats
// go through encoding/json, and records longer than five attributes
// allocate). flatJSON writes the records proxies log — flat, with string,
// number, bool, duration and time values — itself, byte for byte as slog's
// handler would (a test holds it to that), and hands anything else (groups,
// other kinds, loggers made With attributes) to slog's handler.
type flatJSON struct {
	slow  slog.Handler // slog's JSON handler, over the same writer
	w     *lockedWriter
	level slog.Leveler
}

func newFlatJSON(w io.Writer, opts *slog.HandlerOptions) *flatJSON {
	lw := &lockedWriter{w: w}
	return &flatJSON{slow: slog.NewJSONHandler(lw, opts), w: lw, level: opts.Level}
}

func (h *flatJSON) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.level != nil {
		min = h.level.Level()
	}
	return l >= min
}

func (h *flatJSON) WithAttrs(as []slog.Attr) slog.Handler { return h.slow.WithAttrs(as) }
func (h *flatJSON) WithGroup(name string) slog.Handler    { return h.slow.WithGroup(name) }

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (h *flatJSON) Handle(ctx context.Context, r slog.Record) error {
	flat := true
	r.Attrs(func(a slog.Attr) bool {
		flat = isFlatAttr(a)
		return flat
	})
	if !flat {
		return h.slow.Handle(ctx, r)
	}
	bp := lineBufs.Get().(*[]byte)
	b := appendHead((*bp)[:0], r.Time, r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b = appendAttr(b, a)
		return true
	})
	return h.writeLine(bp, b)
}

// write logs a record of flat attributes without building a slog.Record
// (which allocates past five attributes, and whose Logger methods look up
// the caller).
func (h *flatJSON) write(level slog.Level, msg string, attrs []slog.Attr) error {
	bp := lineBufs.Get().(*[]byte)
	b := appendHead((*bp)[:0], time.Now(), level, msg)
	for _, a := range attrs {
		b = appendAttr(b, a)
	}
	return h.writeLine(bp, b)
}

func (h *flatJSON) writeLine(bp *[]byte, b []byte) error {
	b = append(b, '}', '\n')
	_, err := h.w.Write(b)
	*bp = b
	lineBufs.Put(bp)
	return err
}

func appendHead(b []byte, t time.Time, level slog.Level, msg string) []byte {
	b = append(b, '{')
	if !t.IsZero() {
		b = append(b, `"time":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":`...)
	b = appendJSONString(b, level.String())
	b = append(b, `,"msg":`...)
	return appendJSONString(b, msg)
}

func appendAttr(b []byte, a slog.Attr) []byte {
	b = append(b, ',')
	b = appendJSONString(b, a.Key)
	b = append(b, ':')
	return appendFlatValue(b, a.Value)
}

// LogLine logs attrs at level through log, as log.LogAttrs would, but
// without building a slog.Record when the handler is NewLogger's JSON one
// and the attributes are flat: per-connection and per-request lines use it.
func LogLine(log *slog.Logger, level slog.Level, msg string, attrs []slog.Attr) {
	ctx := context.Background()
	h := log.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	if fj, ok := h.(*flatJSON); ok && allFlat(attrs) {
		fj.write(level, msg, attrs)
		return
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	h.Handle(ctx, r)
}

func allFlat(attrs []slog.Attr) bool {
	for _, a := range attrs {
		if !isFlatAttr(a) {
			return false
		}
	}
	return true
}

func isFlatAttr(a slog.Attr) bool { return a.Key != "" && isFlat(a.Value) }

// isFlat reports whether flatJSON writes v itself.
func isFlat(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration:
		return true
	case slog.KindTime:
		y := v.Time().Year()
		return y >= 0 && y < 10000 // slog writes an error for others
	case slog.KindFloat64:
		f := v.Float64()
		return !math.IsInf(f, 0) && !math.IsNaN(f) // encoding/json refuses those
	}
	return false
}

func appendFlatValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendJSONString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return strconv.AppendInt(b, int64(v.Duration()), 10) // as slog: nanoseconds
	case slog.KindTime:
		b = append(b, '"')
		b = v.Time().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	default: // KindFloat64
		return appendJSONFloat(b, v.Float64())
	}
}

// appendJSONFloat writes f as encoding/json does; slog calls encoding/json
// for floats.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString quotes s as slog's JSON handler does: no HTML escaping,
// invalid UTF-8 as U+FFFD, and the two JavaScript line terminators escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// lockedWriter lets two handlers share one writer, a record at a time.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
