package breakerredis

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// Fleet phases, as the sync script reports them.
const (
	phaseIdle    = 0 // never opened, or the fleet let go of its last open period
	phaseOpen    = 1 // open, with time left
	phaseProbing = 2 // the open period is over; elected instances probe
	phaseClosed  = 3 // the last open period ended with a successful probe
)

// Bounds of values read from Redis; anything outside is invalid.
const (
	maxEpoch     = 1 << 40
	maxFleetSum  = 1 << 40
	maxFailing   = 1024
	maxEventSize = 256
	maxIncLen    = 40
)

var errInvalid = errors.New("breakerredis: invalid value from Redis")

// snapshot is what one run of the sync script reports for one breaker.
type snapshot struct {
	inc      string
	epoch    uint64
	phase    int
	left     time.Duration // of the open period, on the server's clock
	elected  bool
	calls    uint64
	failures uint64
	slow     uint64
	failing  uint64
	trip     int // 0 none, 1 observed (ModeObserve), 2 made by this exchange
	serverMS int64
	repairs  uint64
}

// decodeSnapshot validates the script's reply: every field present, of the
// right type and within its bounds.
func decodeSnapshot(v any) (snapshot, error) {
	var s snapshot
	a, ok := v.([]any)
	if !ok || len(a) != 12 {
		return s, errInvalid
	}
	inc, ok := a[0].(string)
	if !ok || !validInc(inc) {
		return s, errInvalid
	}
	s.inc = inc
	n := make([]int64, len(a))
	for i := 1; i < len(a); i++ {
		x, ok := a[i].(int64)
		if !ok || x < 0 {
			return s, errInvalid
		}
		n[i] = x
	}
	switch {
	case n[1] >= maxEpoch, n[2] > phaseClosed, n[3] > int64(breaker.MaxOpenDuration/time.Millisecond),
		n[4] > 1, n[5] >= maxFleetSum, n[6] > n[5], n[7] > n[5], n[8] > maxFailing, n[9] > 2,
		n[10] == 0, n[11] > 5:
		return s, errInvalid
	case n[2] != phaseOpen && n[3] != 0, n[4] == 1 && n[2] != phaseProbing:
		return s, errInvalid
	}
	s.epoch, s.phase, s.left = uint64(n[1]), int(n[2]), time.Duration(n[3])*time.Millisecond
	s.elected = n[4] == 1
	s.calls, s.failures, s.slow, s.failing = uint64(n[5]), uint64(n[6]), uint64(n[7]), uint64(n[8])
	s.trip, s.serverMS, s.repairs = int(n[9]), n[10], uint64(n[11])
	return s, nil
}

// validInc reports whether s looks like an incarnation id: the server's TIME
// when the breaker's state was created, "seconds.microseconds".
func validInc(s string) bool {
	if len(s) < 3 || len(s) > maxIncLen {
		return false
	}
	dot := strings.IndexByte(s, '.')
	if dot <= 0 || dot == len(s)-1 {
		return false
	}
	return digits(s[:dot]) && digits(s[dot+1:])
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// event is a message of the event channel: "v1|name|inc|epoch|o|ttl_ms" for
// a fleet trip, "v1|name|inc|epoch|c|0" for a fleet close.
type event struct {
	name  string
	inc   string
	epoch uint64
	open  bool
	ttl   time.Duration
}

// parseEvent validates a message strictly: version, field count, a valid
// breaker name and incarnation, integer ranges.
func parseEvent(p string) (event, error) {
	var e event
	if len(p) > maxEventSize {
		return e, errInvalid
	}
	f := strings.Split(p, "|")
	if len(f) != 6 || f[0] != "v1" || !validName(f[1]) || !validInc(f[2]) {
		return e, errInvalid
	}
	epoch, err := strconv.ParseUint(f[3], 10, 64)
	if err != nil || epoch == 0 || epoch >= maxEpoch {
		return e, errInvalid
	}
	ttl, err := strconv.ParseInt(f[5], 10, 64)
	if err != nil || ttl < 0 || ttl > int64(breaker.MaxOpenDuration/time.Millisecond) {
		return e, errInvalid
	}
	switch {
	case f[4] == "o" && ttl > 0:
		e.open = true
	case f[4] == "c" && ttl == 0:
	default:
		return e, errInvalid
	}
	e.name, e.inc, e.epoch, e.ttl = f[1], f[2], epoch, time.Duration(ttl)*time.Millisecond
	return e, nil
}

// validName reports whether a breaker name may key shared state:
// 1 to 128 of A-Z a-z 0-9 . _ : / -.
func validName(s string) bool { return validChars(s, 128, "._:/-") }

// validChars reports whether s has 1 to max characters, each a letter, a
// digit or one of extra.
func validChars(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0 {
			continue
		}
		return false
	}
	return true
}
