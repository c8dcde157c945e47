package breaker

import "testing"

// FuzzStateWord checks the state word's pack/unpack round trip against
// plain arithmetic: every field reads back what was packed, no field
// disturbs another, and the open and forced deadlines, stored modulo 2^47,
// read back as the time left until them (or 0 once they have passed).
func FuzzStateWord(f *testing.F) {
	f.Add(uint8(0), uint16(0), uint16(0), uint16(0), uint16(0), int64(0), int64(0), int64(1))
	f.Add(uint8(2), uint16(8191), uint16(65535), uint16(65535), uint16(65535), int64(1)<<47-1, int64(1)<<47+5, int64(12*60*60*1e9))
	f.Add(uint8(1), uint16(8192), uint16(1), uint16(2), uint16(3), int64(1)<<46, int64(999), int64(1))
	f.Add(uint8(3), uint16(1), uint16(7), uint16(0), uint16(9), int64(123456789), int64(1e15), int64(60e9))
	f.Fuzz(func(t *testing.T, ph uint8, gen, a, b, c uint16, now, d, maxOpen int64) {
		p := phase(ph%6) + phaseClosed
		now &= 1<<52 - 1 // 52 days of ns: well past the 2^47 wrap
		if now < 0 {
			now = -now
		}

		// pack / phaseOf / genOf / payloadOf.
		payload := uint64(a) | uint64(b)<<16 | uint64(c)<<32 | uint64(gen&1)<<47
		w := pack(p, gen, payload)
		if phaseOf(w) != p || genOf(w) != gen&genMask || payloadOf(w) != payload {
			t.Fatalf("pack(%d, %d, %#x) = %#x reads back phase %d gen %d payload %#x",
				p, gen, payload, w, phaseOf(w), genOf(w), payloadOf(w))
		}
		if nextGen(w) != (gen+1)&(1<<13-1) {
			t.Fatalf("nextGen of gen %d = %d", gen&genMask, nextGen(w))
		}
		if want := [...]State{StateClosed, StateOpen, StateHalfOpen, StateForcedOpen, StateForcedOpen, StateDisabled}[p-phaseClosed]; p.public() != want {
			t.Fatalf("phase %d shows %v; want %v", p, p.public(), want)
		}

		// Counters.
		if closedFailures(pack(phaseClosed, gen, uint64(a))) != uint32(a) {
			t.Fatalf("closed failures %d do not round-trip", a)
		}
		hw := pack(phaseHalfOpen, gen, halfOpenPayload(uint32(a), uint32(b), uint32(c)))
		if f1, s1, k1 := halfOpenFields(hw); f1 != uint32(a) || s1 != uint32(b) || k1 != uint32(c) || genOf(hw) != gen&genMask {
			t.Fatalf("half-open (%d, %d, %d) reads back (%d, %d, %d)", a, b, c, f1, s1, k1)
		}
		// Adding 1 to the word adds one probe in flight and nothing else
		// (Allow's CAS w -> w+1), as long as the field is not full.
		if a < 65535 {
			if f1, s1, k1 := halfOpenFields(hw + 1); f1 != uint32(a)+1 || s1 != uint32(b) || k1 != uint32(c) {
				t.Fatalf("w+1 changed more than in-flight: (%d,%d,%d)", f1, s1, k1)
			}
		}

		// Open deadline: remaining is exactly the time left while it is at
		// most maxOpen ahead, and 0 once it has passed.
		maxOpen = 1 + (maxOpen&(1<<62-1))%int64(MaxOpenDuration)
		d = d % (2 * maxOpen)
		deadline := now + d
		ow := pack(phaseOpen, gen, openDeadlineField(deadline))
		for _, due := range []bool{false, true} {
			w := ow
			if due {
				w |= dueBit // the due bit lies outside the deadline's bits
			}
			got := openRemaining(w, now, maxOpen)
			switch {
			case d > 0 && d <= maxOpen:
				if got != d {
					t.Fatalf("openRemaining(deadline %d, now %d, max %d) = %d; want %d", deadline, now, maxOpen, got, d)
				}
			case d <= 0 && -d < 1<<46:
				if got != 0 {
					t.Fatalf("deadline %d passed at now %d; openRemaining = %d", deadline, now, got)
				}
			}
			if isDue(w) != due {
				t.Fatalf("isDue = %v", !due)
			}
		}

		// Forced deadline: microsecond resolution, rounded up.
		if deadline >= 0 {
			fw := pack(phaseForced, gen, forcedDeadlineField(deadline))
			up := (deadline + 999) / 1000 * 1000
			got := forcedRemaining(fw, now)
			if want := max(up-now, 0); (up-now < 1<<46) && got != want {
				t.Fatalf("forcedRemaining(deadline %d -> %d, now %d) = %d; want %d", deadline, up, now, got, want)
			}
		}
	})
}
