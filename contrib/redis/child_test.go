package breakerredis_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerredis "github.com/fusebox-go/fusebox/contrib/redis"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// childEnv holds a childConfig (JSON) when the test binary runs as a fleet
// instance: the tests re-execute their own binary to get separate processes
// that share one redis-server.
const childEnv = "BREAKERREDIS_TEST_CHILD"

type childConfig struct {
	Sock, Namespace, Name, Instance string
	Mode                            breakerredis.Mode
	IntervalMS                      int
	NoEvents                        bool
	LocalMinimumCalls               uint32
	Rule                            breakerredis.Rule
	OpenMS, RoundMS                 int
	Probes, Rounds                  uint32
}

var errDep = errors.New("dependency failed")

// childMain is a fleet instance: one breaker attached to one Fleet, driven
// by commands on stdin, reporting on stdout (one line each):
//
//	call ok|fail N   N calls now, then "D <succeeded> <failed> <rejected>"
//	health ok|fail   what the call loop's dependency returns
//	loop on|off      a call every 10ms
//	tripfor MS       b.TripFor: a local trip
//	status           "F <Fleet.Status as JSON>"
//	exit (or EOF)    close everything and exit
//
// and "T <from> <to> <reason>" for every transition of the breaker.
func childMain() int {
	var cc childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cc); err != nil {
		fmt.Println("ERR", err)
		return 2
	}
	var outMu sync.Mutex
	say := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf(format+"\n", a...)
	}
	b := breaker.MustNew(breaker.Config{
		Name:                 cc.Name,
		FailureRateThreshold: 0.5,
		MinimumCalls:         cc.LocalMinimumCalls,
		WindowType:           breaker.TimeWindow,
		WindowDuration:       10 * time.Second,
		Timeout:              time.Duration(cc.OpenMS) * time.Millisecond,
		OnStateChange: func(t breaker.Transition) {
			say("T %s %s %s", t.From, t.To, t.Reason)
		},
	})
	client := redis.NewClient(&redis.Options{Network: "unix", Addr: cc.Sock, ContextTimeoutEnabled: true, PoolSize: 2})
	defer client.Close()
	f, err := breakerredis.NewFleet(client, breakerredis.Options{
		Namespace: cc.Namespace, Instance: cc.Instance,
		Interval: time.Duration(cc.IntervalMS) * time.Millisecond, DisableEvents: cc.NoEvents,
	})
	if err != nil {
		say("ERR %v", err)
		return 2
	}
	defer f.Close()
	if err := f.Attach(b, breakerredis.WithMode(cc.Mode), breakerredis.WithRule(cc.Rule),
		breakerredis.WithOpenDuration(time.Duration(cc.OpenMS)*time.Millisecond),
		breakerredis.WithProbes(cc.Probes, time.Duration(cc.RoundMS)*time.Millisecond, cc.Rounds)); err != nil {
		say("ERR %v", err)
		return 2
	}
	var healthy, looping atomic.Bool
	healthy.Store(true)
	dep := func() error {
		if healthy.Load() {
			return nil
		}
		return errDep
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if looping.Load() {
					_ = b.Call(dep)
				}
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	say("READY")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) == 0 {
			continue
		}
		switch w[0] {
		case "call":
			n, _ := strconv.Atoi(w[2])
			var ok, failed, rejected int
			for range n {
				err := b.Call(func() error {
					if w[1] == "ok" {
						return nil
					}
					return errDep
				})
				switch {
				case err == nil:
					ok++
				case errors.Is(err, breaker.ErrOpen), errors.Is(err, breaker.ErrTooManyRequests):
					rejected++
				default:
					failed++
				}
			}
			say("D %d %d %d", ok, failed, rejected)
		case "health":
			healthy.Store(w[1] == "ok")
		case "loop":
			looping.Store(w[1] == "on")
		case "tripfor":
			ms, _ := strconv.Atoi(w[1])
			_ = b.TripFor(time.Duration(ms) * time.Millisecond)
		case "status":
			j, _ := json.Marshal(f.Status())
			say("F %s", j)
		case "exit":
			return 0
		}
	}
	return 0
}

// line is one line a child printed, with when the parent read it.
type line struct {
	at   time.Time
	text string
}

// child is a running instance process.
type child struct {
	t     *testing.T
	id    string
	cmd   *exec.Cmd
	in    io.WriteCloser
	mu    sync.Mutex
	lines []line
	done  chan struct{}
}

// spawn starts n instances with configurations made by cfg, waits until
// each is ready, and stops them when t ends.
func spawn(t *testing.T, n int, cfg func(i int) childConfig) []*child {
	t.Helper()
	cs := make([]*child, n)
	for i := range cs {
		cc := cfg(i)
		j, err := json.Marshal(cc)
		require.NoError(t, err)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		// A race in a child is reported, not fatal to it: the parent reads
		// the reports (checkRaces).
		cmd.Env = append(os.Environ(), childEnv+"="+string(j), "GORACE=halt_on_error=0 exitcode=0")
		stderr := &lockedBuffer{}
		cmd.Stderr = stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		c := &child{t: t, id: cc.Instance, cmd: cmd, in: in, done: make(chan struct{})}
		go func() {
			defer close(c.done)
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<16), 1<<20)
			for sc.Scan() {
				c.mu.Lock()
				c.lines = append(c.lines, line{time.Now(), sc.Text()})
				c.mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			_ = c.in.Close() // EOF: the child closes its Fleet and exits
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.done
			}
			if err := c.cmd.Wait(); err != nil {
				t.Errorf("instance %s: %v\n%s", c.id, err, stderr.String())
			}
			checkRaces(t, c.id, stderr.String())
		})
		cs[i] = c
	}
	for _, c := range cs {
		c.await(30*time.Second, func(s string) bool { return s == "READY" })
	}
	return cs
}

func (c *child) send(cmd string) {
	c.t.Helper()
	_, err := io.WriteString(c.in, cmd+"\n")
	require.NoError(c.t, err)
}

// find returns the first line that matches.
func (c *child) find(match func(string) bool) (line, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if match(l.text) {
			return l, true
		}
	}
	return line{}, false
}

// count returns the number of lines that match.
func (c *child) count(match func(string) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if match(l.text) {
			n++
		}
	}
	return n
}

// await waits for a line that matches.
func (c *child) await(timeout time.Duration, match func(string) bool) line {
	c.t.Helper()
	var l line
	eventually(c.t, timeout, func() bool {
		var ok bool
		l, ok = c.find(match)
		return ok
	}, "instance %s printed no matching line; it printed:\n%s", c.id, c.dump())
	return l
}

func (c *child) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, l := range c.lines {
		b.WriteString(l.text + "\n")
	}
	return b.String()
}

// status asks for the child's Fleet.Status and returns it.
func (c *child) status() breakerredis.Status {
	c.t.Helper()
	n := c.count(func(s string) bool { return strings.HasPrefix(s, "F ") })
	c.send("status")
	var st breakerredis.Status
	eventually(c.t, 10*time.Second, func() bool {
		return c.count(func(s string) bool { return strings.HasPrefix(s, "F ") }) > n
	}, "no status from %s", c.id)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.lines) - 1; i >= 0; i-- {
		if s, ok := strings.CutPrefix(c.lines[i].text, "F "); ok {
			require.NoError(c.t, json.Unmarshal([]byte(s), &st))
			break
		}
	}
	return st
}

// transition matches the line of a transition to state to for reason.
func transition(to breaker.State, reason breaker.Reason) func(string) bool {
	return func(s string) bool {
		w := strings.Fields(s)
		return len(w) == 4 && w[0] == "T" && w[2] == to.String() && w[3] == reason.String()
	}
}

// lockedBuffer collects a child's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// checkRaces fails t for every race report in a child's stderr.
func checkRaces(t *testing.T, id, stderr string) {
	for _, block := range strings.Split(stderr, "WARNING: DATA RACE")[1:] {
		t.Errorf("instance %s: data race:\n%s", id, block)
	}
}
