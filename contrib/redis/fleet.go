package breakerredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults and limits of Options.
const (
	// DefaultPrefix is the Options.Prefix used when it is empty.
	DefaultPrefix = "fusebox:v1:"
	// DefaultInterval is the Options.Interval used when it is zero.
	DefaultInterval = 500 * time.Millisecond
	// MinInterval and MaxInterval bound Options.Interval.
	MinInterval = 10 * time.Millisecond
	MaxInterval = 10 * time.Second
	// DefaultMaxBreakers is the Options.MaxBreakers used when it is zero.
	DefaultMaxBreakers = 256
)

// Options configures a Fleet.
type Options struct {
	// Prefix starts every key and channel name the Fleet uses. Default
	// DefaultPrefix. 1 to 64 of A-Z a-z 0-9 . _ : -. A Redis user confined
	// by ACL to Prefix+"*" (keys and channels) is all the Fleet needs.
	Prefix string

	// Namespace separates services (and environments) sharing one Redis:
	// only the replicas of one service should use the same Namespace.
	// Required; 1 to 64 of A-Z a-z 0-9 . _ -.
	Namespace string

	// Instance identifies this replica among the others (the pod name, for
	// example). Default: hostname-pid-random, from the host name with
	// characters outside the allowed set replaced by '-', the process id
	// and 6 random hex digits. 1 to 64 of A-Z a-z 0-9 . _ : -.
	Instance string

	// Interval is the time between two exchanges with Redis: each one sends
	// the figures of every attached breaker and reads the fleet's state back
	// in one pipelined round trip. Default DefaultInterval; within
	// [MinInterval, MaxInterval].
	Interval time.Duration

	// Timeout bounds each exchange. Default: Interval/2, at most 250ms. It
	// is passed as the context deadline of the commands; with a
	// redis.Options whose ContextTimeoutEnabled is false, go-redis applies
	// its own ReadTimeout and WriteTimeout instead, so set
	// ContextTimeoutEnabled (recommended) or keep those short.
	Timeout time.Duration

	// MaxBreakers bounds the breakers attached to the Fleet, those of
	// AttachGroup included. Default DefaultMaxBreakers.
	MaxBreakers int

	// DisableEvents turns off the pub/sub subscription: fleet trips and
	// closes then reach this replica at its next exchange only. For Redis
	// deployments that forbid SUBSCRIBE, and for tests.
	DisableEvents bool
}

// Fleet shares the decisions of the breakers attached to it with the other
// replicas of a service through Redis. Create one per process and service
// with NewFleet; attach breakers with Attach or AttachGroup; Close it when
// done. It is safe for concurrent use.
type Fleet struct {
	client   redis.UniversalClient
	prefix   string // Prefix + Namespace + ":"
	channel  string
	instance string
	interval time.Duration
	timeout  time.Duration
	max      int
	events   bool

	mu      sync.Mutex
	byName  map[string]*member
	groups  []*groupMember
	closed  bool
	trans   chan transition
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	closeMu sync.Mutex

	st counters
}

type counters struct {
	connected     atomic.Bool
	lastExchange  atomic.Int64 // unix ns of the last successful exchange
	exchanges     atomic.Uint64
	failures      atomic.Uint64
	applied       atomic.Uint64
	dropped       atomic.Uint64
	invalid       atomic.Uint64
	probes        atomic.Uint64
	observedTrips atomic.Uint64
}

// NewFleet returns a Fleet that exchanges with Redis through client, which
// it uses but does not own (close the client after the Fleet). It does not
// contact Redis: a Redis that is down, slow or empty only means that the
// attached breakers run locally until it answers. It returns an error only
// for invalid Options or a nil client.
func NewFleet(client redis.UniversalClient, opts Options) (*Fleet, error) {
	if client == nil {
		return nil, errors.New("breakerredis: NewFleet with a nil client")
	}
	var bad []string
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !validChars(opts.Prefix, 64, "._:-") {
		bad = append(bad, fmt.Sprintf("Prefix %q must be 1 to 64 of A-Z a-z 0-9 . _ : -", opts.Prefix))
	}
	if !validChars(opts.Namespace, 64, "._-") {
		bad = append(bad, fmt.Sprintf("Namespace %q must be 1 to 64 of A-Z a-z 0-9 . _ -", opts.Namespace))
	}
	if opts.Instance == "" {
		opts.Instance = defaultInstance()
	}
	if !validChars(opts.Instance, 64, "._:-") {
		bad = append(bad, fmt.Sprintf("Instance %q must be 1 to 64 of A-Z a-z 0-9 . _ : -", opts.Instance))
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Interval < MinInterval || opts.Interval > MaxInterval {
		bad = append(bad, fmt.Sprintf("Interval %v must be within [%v, %v]", opts.Interval, MinInterval, MaxInterval))
	}
	if opts.Timeout == 0 {
		opts.Timeout = min(opts.Interval/2, 250*time.Millisecond)
	}
	if opts.Timeout < 0 || opts.Timeout > MaxInterval {
		bad = append(bad, fmt.Sprintf("Timeout %v must be within (0, %v]", opts.Timeout, MaxInterval))
	}
	if opts.MaxBreakers == 0 {
		opts.MaxBreakers = DefaultMaxBreakers
	}
	if opts.MaxBreakers < 0 {
		bad = append(bad, fmt.Sprintf("MaxBreakers %d must not be negative", opts.MaxBreakers))
	}
	if bad != nil {
		return nil, errors.New("breakerredis: invalid Options: " + strings.Join(bad, "; "))
	}
	base := opts.Prefix + opts.Namespace + ":"
	f := &Fleet{
		client:   client,
		prefix:   base,
		channel:  base + "events",
		instance: opts.Instance,
		interval: opts.Interval,
		timeout:  opts.Timeout,
		max:      opts.MaxBreakers,
		events:   !opts.DisableEvents,
		byName:   make(map[string]*member),
		trans:    make(chan transition, 1024),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	go f.run()
	return f, nil
}

// defaultInstance returns hostname-pid-random, within the allowed characters.
func defaultInstance() string {
	host, _ := os.Hostname()
	var b strings.Builder
	for i := 0; i < len(host) && b.Len() < 40; i++ {
		c := host[i]
		if validChars(string(c), 1, "._-") {
			b.WriteByte(c)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		b.WriteString("instance")
	}
	var r [3]byte
	_, _ = rand.Read(r[:])
	return b.String() + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(r[:])
}

// Instance returns this replica's id (Options.Instance or its default).
func (f *Fleet) Instance() string { return f.instance }

// Close stops the Fleet's background work and detaches every breaker, which
// from then on runs as a local breaker (an open period the fleet applied
// runs out locally). It waits for an exchange under way, at most about
// Options.Timeout. It is safe to call more than once; it returns nil.
func (f *Fleet) Close() error {
	f.closeMu.Lock()
	defer f.closeMu.Unlock()
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	close(f.stop)
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.byName {
		m.cancel()
	}
	clear(f.byName)
	f.groups = nil
	return nil
}

// Status is a snapshot of a Fleet's health and of its breakers' fleet
// state.
type Status struct {
	// Instance is this replica's id.
	Instance string
	// Connected is true when the last exchange with Redis succeeded; it is
	// false before the first exchange, which waits for a breaker to be
	// attached.
	Connected bool
	// LastExchange is when the last successful exchange ended (this
	// process's clock; zero before the first).
	LastExchange time.Time
	// Exchanges and FailedExchanges count the exchanges that succeeded and
	// those that failed (Redis down, slow, refusing).
	Exchanges, FailedExchanges uint64
	// EventsApplied counts the fleet trips, probes and closes applied to
	// attached breakers.
	EventsApplied uint64
	// Dropped counts what was lost on the way: the figures and reports of
	// breakers in a failed exchange, and local transitions that did not fit
	// the Fleet's queue.
	Dropped uint64
	// InvalidValues counts values read from Redis that failed validation
	// (replies, events, keys the script had to repair) and were ignored.
	InvalidValues uint64
	// ProbesElected counts the times one of this replica's breakers was
	// elected to probe and half-opened.
	ProbesElected uint64
	// ObservedTrips counts the fleet trips that ModeObserve breakers would
	// have made.
	ObservedTrips uint64
	// Breakers holds one entry per attached breaker, by name.
	Breakers []BreakerStatus
}

// BreakerStatus is the fleet state of one attached breaker as of the last
// exchange.
type BreakerStatus struct {
	Name string
	Mode Mode
	// FleetState is "idle", "open", "probing" or "closed" (after a
	// successful fleet probe), or "" before the first exchange.
	FleetState string
	// Epoch counts the fleet transitions of this breaker's shared state.
	Epoch uint64
	// Calls, Failures and Slow are the fleet window's figures, and Failing
	// the number of instances failing themselves within it.
	Calls, Failures, Slow, Failing uint64
}

// Status returns a snapshot of the Fleet's health.
func (f *Fleet) Status() Status {
	s := Status{
		Instance:        f.instance,
		Connected:       f.st.connected.Load(),
		Exchanges:       f.st.exchanges.Load(),
		FailedExchanges: f.st.failures.Load(),
		EventsApplied:   f.st.applied.Load(),
		Dropped:         f.st.dropped.Load(),
		InvalidValues:   f.st.invalid.Load(),
		ProbesElected:   f.st.probes.Load(),
		ObservedTrips:   f.st.observedTrips.Load(),
	}
	if ns := f.st.lastExchange.Load(); ns != 0 {
		s.LastExchange = time.Unix(0, ns)
	}
	f.mu.Lock()
	for _, m := range f.byName {
		s.Breakers = append(s.Breakers, m.status)
	}
	f.mu.Unlock()
	sortStatus(s.Breakers)
	return s
}
