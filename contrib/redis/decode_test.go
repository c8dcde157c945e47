package breakerredis

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func reply(inc any, n ...any) []any { return append([]any{inc}, n...) }

func TestDecodeSnapshot(t *testing.T) {
	ok := reply("1700000000.123", int64(4), int64(phaseOpen), int64(1500), int64(0), int64(30), int64(20), int64(1), int64(3), int64(2), int64(1700000000123), int64(0))
	s, err := decodeSnapshot(ok)
	require.NoError(t, err)
	assert.Equal(t, snapshot{inc: "1700000000.123", epoch: 4, phase: phaseOpen, left: 1500 * time.Millisecond,
		calls: 30, failures: 20, slow: 1, failing: 3, trip: 2, serverMS: 1700000000123}, s)

	bad := map[string][]any{
		"short":             ok[:11],
		"inc not a string":  reply(int64(1), ok[1:]...),
		"inc malformed":     reply("abc", ok[1:]...),
		"negative":          reply("1.2", int64(-1), ok[2], ok[3], ok[4], ok[5], ok[6], ok[7], ok[8], ok[9], ok[10], ok[11]),
		"string number":     reply("1.2", "4", ok[2], ok[3], ok[4], ok[5], ok[6], ok[7], ok[8], ok[9], ok[10], ok[11]),
		"phase":             reply("1.2", ok[1], int64(9), ok[3], ok[4], ok[5], ok[6], ok[7], ok[8], ok[9], ok[10], ok[11]),
		"failures > calls":  reply("1.2", ok[1], ok[2], ok[3], ok[4], int64(3), int64(4), int64(0), ok[8], ok[9], ok[10], ok[11]),
		"open too long":     reply("1.2", ok[1], ok[2], int64(13*3600*1000), ok[4], ok[5], ok[6], ok[7], ok[8], ok[9], ok[10], ok[11]),
		"left when idle":    reply("1.2", ok[1], int64(phaseIdle), int64(5), ok[4], ok[5], ok[6], ok[7], ok[8], ok[9], ok[10], ok[11]),
		"elected when open": reply("1.2", ok[1], ok[2], ok[3], int64(1), ok[5], ok[6], ok[7], ok[8], ok[9], ok[10], ok[11]),
		"epoch too big":     reply("1.2", int64(maxEpoch), ok[2], ok[3], ok[4], ok[5], ok[6], ok[7], ok[8], ok[9], ok[10], ok[11]),
		"no server time":    reply("1.2", ok[1], ok[2], ok[3], ok[4], ok[5], ok[6], ok[7], ok[8], ok[9], int64(0), ok[11]),
	}
	for name, v := range bad {
		_, err := decodeSnapshot(v)
		assert.ErrorIs(t, err, errInvalid, name)
	}
	_, err = decodeSnapshot("OK")
	assert.ErrorIs(t, err, errInvalid)
}

func TestParseEvent(t *testing.T) {
	e, err := parseEvent("v1|db.main|17.5|3|o|1200")
	require.NoError(t, err)
	assert.Equal(t, event{name: "db.main", inc: "17.5", epoch: 3, open: true, ttl: 1200 * time.Millisecond}, e)
	e, err = parseEvent("v1|db.main|17.5|4|c|0")
	require.NoError(t, err)
	assert.False(t, e.open)
	for _, p := range []string{"", "v1", "v2|a|1.2|3|o|5", "v1|a b|1.2|3|o|5", "v1|a|1.2|0|o|5", "v1|a|1.2|3|o|0",
		"v1|a|1.2|3|c|5", "v1|a|1.2|3|x|5", "v1|a|1.2|-3|o|5", "v1|a|1.2|3|o|-5", "v1|a|1.2|3|o|99999999999",
		"v1|a|12|3|o|5", "v1|a|1.2|3|o|5|extra", "v1|a|1.2|1099511627776|o|5"} {
		_, err := parseEvent(p)
		assert.ErrorIs(t, err, errInvalid, "%q", p)
	}
}

// FuzzParseEvent: no input panics, and what parses is within bounds.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{"v1|db|1.2|3|o|1200", "v1|db|1.2|4|c|0", "v1||||", "junk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		e, err := parseEvent(p)
		if err != nil {
			return
		}
		if !validName(e.name) || !validInc(e.inc) || e.epoch == 0 || e.epoch >= maxEpoch || e.ttl < 0 || (e.open != (e.ttl > 0)) {
			t.Fatalf("%q parsed to %+v", p, e)
		}
	})
}

// FuzzDecodeSnapshot: no reply panics, and what decodes is consistent.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add("1.2", int64(1), int64(1), int64(100), int64(0), int64(10), int64(5), int64(0), int64(2), int64(0), int64(99), int64(0))
	f.Add("x", int64(-1), int64(9), int64(-5), int64(7), int64(1), int64(5), int64(9), int64(2000), int64(5), int64(0), int64(9))
	f.Fuzz(func(t *testing.T, inc string, a, b, c, d, e, g, h, i, j, k, l int64) {
		s, err := decodeSnapshot(reply(inc, a, b, c, d, e, g, h, i, j, k, l))
		if err != nil {
			return
		}
		if s.failures > s.calls || s.slow > s.calls || s.phase > phaseClosed || s.left < 0 || (s.elected && s.phase != phaseProbing) || (s.left > 0 && s.phase != phaseOpen) {
			t.Fatalf("inconsistent %+v", s)
		}
	})
}
