// Package monitoring checks what operators watch chattoken with, using the
// real tools: the Prometheus alerts under promtool, a real Prometheus
// scraping the real binary, and the Grafana dashboard's expressions.
package monitoring

import (
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

const (
	alertsFile     = "../../deploy/prometheus/alerts.yaml"
	alertsTestFile = "../../deploy/prometheus/alerts_test.yaml"
	dashboardFile  = "../../deploy/grafana/chattoken.json"
)

func TestMain(m *testing.M) { harness.Main(m) }
