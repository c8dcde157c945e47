package breakerprom_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerprom "github.com/fusebox-go/fusebox/contrib/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a breaker.Clock that moves only when advanced.
type fakeClock struct {
	base time.Time
	off  atomic.Int64
}

func newClock() *fakeClock { return &fakeClock{base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time          { return c.base.Add(time.Duration(c.off.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

var errDown = errors.New("down")

func ok() error   { return nil }
func fail() error { return errDown }

// header is the start of the expected fusebox_breaker_calls_total family.
func header() string {
	return `# HELP fusebox_breaker_calls_total Calls the circuit breaker admitted and saw finish, by outcome.
# TYPE fusebox_breaker_calls_total counter
`
}

// TestCollect: the four families of one breaker, read from its Counts at
// collection time.
func TestCollect(t *testing.T) {
	clk := newClock()
	b := breaker.MustNew(breaker.Config{
		Name: "api", FailureThreshold: 2, Timeout: time.Minute, Clock: clk,
		SlowCallDuration: time.Second,
	})
	c := breakerprom.NewCollector()
	c.Add(b)

	_ = b.Call(ok)
	_ = b.Call(func() error { clk.Advance(2 * time.Second); return nil }) // slow success
	_ = b.Call(func() error { return context.Canceled })                  // neutral
	_ = b.Call(fail)
	_ = b.Call(fail) // trips
	_ = b.Call(ok)   // rejected
	_ = b.Call(ok)   // rejected

	want := header() + `fusebox_breaker_calls_total{name="api",outcome="failure"} 2
fusebox_breaker_calls_total{name="api",outcome="neutral"} 1
fusebox_breaker_calls_total{name="api",outcome="success"} 2
# HELP fusebox_breaker_rejected_total Calls the circuit breaker refused because it was open or had no half-open probe slot free.
# TYPE fusebox_breaker_rejected_total counter
fusebox_breaker_rejected_total{name="api"} 2
# HELP fusebox_breaker_slow_calls_total Successes and failures that took at least the breaker's SlowCallDuration.
# TYPE fusebox_breaker_slow_calls_total counter
fusebox_breaker_slow_calls_total{name="api"} 1
# HELP fusebox_breaker_state State of the circuit breaker: 1 for the state it is in, 0 for the others.
# TYPE fusebox_breaker_state gauge
fusebox_breaker_state{name="api",state="closed"} 0
fusebox_breaker_state{name="api",state="disabled"} 0
fusebox_breaker_state{name="api",state="forced-open"} 0
fusebox_breaker_state{name="api",state="half-open"} 0
fusebox_breaker_state{name="api",state="open"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 0 {
		t.Fatalf("lint: %+v", problems)
	}

	// The next collection sees the breaker as it is then.
	clk.Advance(time.Minute)
	if err := testutil.CollectAndCompare(c, strings.NewReader(stateText("api", breaker.StateHalfOpen)), breakerprom.NameState); err != nil {
		t.Fatal(err)
	}
	b.Disable()
	if err := testutil.CollectAndCompare(c, strings.NewReader(stateText("api", breaker.StateDisabled)), breakerprom.NameState); err != nil {
		t.Fatal(err)
	}
	if err := b.ForceOpen(0); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(stateText("api", breaker.StateForcedOpen)), breakerprom.NameState); err != nil {
		t.Fatal(err)
	}
}

// stateText is the expected fusebox_breaker_state family of one breaker in
// state s.
func stateText(name string, s breaker.State) string {
	var sb strings.Builder
	sb.WriteString("# HELP fusebox_breaker_state State of the circuit breaker: 1 for the state it is in, 0 for the others.\n# TYPE fusebox_breaker_state gauge\n")
	for _, st := range []breaker.State{breaker.StateClosed, breaker.StateDisabled, breaker.StateForcedOpen, breaker.StateHalfOpen, breaker.StateOpen} {
		v := "0"
		if st == s {
			v = "1"
		}
		sb.WriteString(`fusebox_breaker_state{name="` + name + `",state="` + st.String() + `"} ` + v + "\n")
	}
	return sb.String()
}

// TestCollectGroup: a group's breakers appear under their names as the
// group creates them, and disappear when it drops them.
func TestCollectGroup(t *testing.T) {
	clk := newClock()
	g, err := breaker.NewGroup(breaker.GroupConfig{
		Config:      func(string) breaker.Config { return breaker.Config{FailureThreshold: 1, Clock: clk} },
		IdleTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := breakerprom.NewCollector()
	c.AddGroup(g)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("empty group: %d series", n)
	}
	for _, k := range []string{"a.example", "b.example"} {
		b, err := g.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Call(ok)
	}
	b, _ := g.Get("b.example")
	_ = b.Call(fail) // b open
	want := header() + `fusebox_breaker_calls_total{name="a.example",outcome="failure"} 0
fusebox_breaker_calls_total{name="a.example",outcome="neutral"} 0
fusebox_breaker_calls_total{name="a.example",outcome="success"} 1
fusebox_breaker_calls_total{name="b.example",outcome="failure"} 1
fusebox_breaker_calls_total{name="b.example",outcome="neutral"} 0
fusebox_breaker_calls_total{name="b.example",outcome="success"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), breakerprom.NameCalls); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c); n != 2*10 {
		t.Fatalf("%d series, want 10 per breaker", n)
	}

	// A minute later a.example is closed and idle: the group drops it, and
	// it is no longer reported. The open b.example stays.
	clk.Advance(time.Minute)
	if err := testutil.CollectAndCompare(c, strings.NewReader(`# HELP fusebox_breaker_rejected_total Calls the circuit breaker refused because it was open or had no half-open probe slot free.
# TYPE fusebox_breaker_rejected_total counter
fusebox_breaker_rejected_total{name="b.example"} 0
`), breakerprom.NameRejected); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Fatalf("group holds %d breakers, want 1", g.Len())
	}
}

// TestCollectOnce: a breaker added twice, or added and in a group, is
// reported once; of two breakers with one name, the first is.
func TestCollectOnce(t *testing.T) {
	g, err := breaker.NewGroup(breaker.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	inGroup, _ := g.Get("shared")
	first := breaker.MustNew(breaker.Config{Name: "dup"})
	second := breaker.MustNew(breaker.Config{Name: "dup"})
	_ = first.Call(ok)
	_ = second.Call(fail)
	_ = second.Call(fail)

	c := breakerprom.NewCollector()
	c.Add(first)
	c.Add(first)
	c.Add(second)
	c.Add(inGroup)
	c.Add(nil)
	c.AddGroup(g)
	c.AddGroup(nil)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	want := header() + `fusebox_breaker_calls_total{name="dup",outcome="failure"} 0
fusebox_breaker_calls_total{name="dup",outcome="neutral"} 0
fusebox_breaker_calls_total{name="dup",outcome="success"} 1
fusebox_breaker_calls_total{name="shared",outcome="failure"} 0
fusebox_breaker_calls_total{name="shared",outcome="neutral"} 0
fusebox_breaker_calls_total{name="shared",outcome="success"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), breakerprom.NameCalls); err != nil {
		t.Fatal(err)
	}
}

// TestScrapeHTTP: the collector behind a real promhttp handler on loopback,
// scraped by an HTTP client while calls go on.
func TestScrapeHTTP(t *testing.T) {
	clk := newClock()
	g, err := breaker.NewGroup(breaker.GroupConfig{
		Config: func(string) breaker.Config { return breaker.Config{FailureThreshold: 3, Clock: clk} },
	})
	if err != nil {
		t.Fatal(err)
	}
	solo := breaker.MustNew(breaker.Config{Name: "solo", Clock: clk})
	c := breakerprom.NewCollector()
	c.Add(solo)
	c.AddGroup(g)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	scrape := func() string {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "text/plain")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape: %s\n%s", resp.Status, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("Content-Type %q", ct)
		}
		return string(body)
	}

	hosts := []string{"a.example", "b.example", "c.example"}
	for _, h := range hosts {
		b, err := g.Get(h)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			_ = b.Call(func() error {
				if h == "b.example" {
					return errDown
				}
				return nil
			})
		}
	}
	b, _ := g.Get("b.example")
	_ = b.Call(ok) // rejected
	_ = solo.Call(ok)

	body := scrape()
	for _, line := range []string{
		"# TYPE fusebox_breaker_state gauge",
		"# TYPE fusebox_breaker_calls_total counter",
		"# TYPE fusebox_breaker_rejected_total counter",
		"# TYPE fusebox_breaker_slow_calls_total counter",
		`fusebox_breaker_state{name="a.example",state="closed"} 1`,
		`fusebox_breaker_state{name="b.example",state="open"} 1`,
		`fusebox_breaker_state{name="b.example",state="closed"} 0`,
		`fusebox_breaker_state{name="c.example",state="closed"} 1`,
		`fusebox_breaker_calls_total{name="a.example",outcome="success"} 3`,
		`fusebox_breaker_calls_total{name="b.example",outcome="failure"} 3`,
		`fusebox_breaker_rejected_total{name="b.example"} 1`,
		`fusebox_breaker_rejected_total{name="a.example"} 0`,
		`fusebox_breaker_slow_calls_total{name="solo"} 0`,
		`fusebox_breaker_calls_total{name="solo",outcome="success"} 1`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("scrape lacks %q:\n%s", line, body)
		}
	}
	if n := strings.Count(body, "\nfusebox_breaker_state{"); n != 4*5 {
		t.Errorf("%d state series, want 5 per breaker for 4 breakers:\n%s", n, body)
	}

	// Scrapes while calls go on: counters never go down.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := g.Get(h)
			for {
				select {
				case <-stop:
					return
				default:
					_ = b.Call(ok)
				}
			}
		}()
	}
	prev := -1.0
	for range 20 {
		v := valueOf(t, scrape(), `fusebox_breaker_calls_total{name="a.example",outcome="success"} `)
		if v < prev {
			t.Fatalf("counter went down: %v after %v", v, prev)
		}
		prev = v
	}
	close(stop)
	wg.Wait()
	if prev < 3 {
		t.Fatalf("last scrape saw %v successes, want at least 3", prev)
	}
}

// valueOf returns the value on the line of body that starts with prefix.
func valueOf(t *testing.T, body, prefix string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("value %q: %v", rest, err)
			}
			return v
		}
	}
	t.Fatalf("no line %q in\n%s", prefix, body)
	return 0
}
