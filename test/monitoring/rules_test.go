package monitoring

import (
	"testing"
)

// promtool checks the rule file and runs its unit tests, which show every
// alert firing where it should and silent where it should not.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool(t, "check", "rules", alertsFile)
	out := promtool(t, "test", "rules", alertsTestFile)
	t.Log(out)
}

func TestAlertsNameOnlyExportedMetrics(t *testing.T) {
	t.Parallel()
	svc, _ := exercisedService(t)
	exported := exportedNames(t, svc)
	alerts := 0
	for _, g := range readRules(t, alertsFile).Groups {
		for _, r := range g.Rules {
			alerts++
			requireExported(t, exported, "alert "+r.Alert, r.Expr)
		}
	}
	if alerts == 0 {
		t.Fatalf("%s holds no rule", alertsFile)
	}
}
