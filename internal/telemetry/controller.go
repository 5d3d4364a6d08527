package telemetry

import "github.com/prometheus/client_golang/prometheus"

// ControllerMetrics counts the controller's mesh streams and leadership;
// it implements mesh.Events.
type ControllerMetrics struct {
	streams   prometheus.Gauge
	snapshots prometheus.Counter
	leader    prometheus.Gauge
}

// NewControllerMetrics registers the controller's metrics on r.
func NewControllerMetrics(r prometheus.Registerer) *ControllerMetrics {
	m := &ControllerMetrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hopseal_mesh_streams", Help: "Proxies following this replica's mesh stream now.",
		}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hopseal_mesh_snapshots_sent_total", Help: "Snapshots of policy and discovery sent to proxies.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hopseal_controller_leader", Help: "1 while this replica leads (writes bundles, caBundle and policy status), else 0.",
		}),
	}
	r.MustRegister(m.streams, m.snapshots, m.leader)
	return m
}

func (m *ControllerMetrics) StreamOpened() { m.streams.Inc() }
func (m *ControllerMetrics) StreamClosed() { m.streams.Dec() }
func (m *ControllerMetrics) SnapshotSent() { m.snapshots.Inc() }

// Leading records whether this replica leads.
func (m *ControllerMetrics) Leading(yes bool) {
	if yes {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}
